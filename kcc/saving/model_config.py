"""A model's architecture as plain data, and back, in Keras's shape.

Functional model:
    {"name", "trainable",
     "layers": [{"class_name", "config", "name",
                 "inbound_nodes": [[[layer name, node index, tensor index, call kwargs], ...]
                                   per call of the layer in this model]}, ...],
     "input_layers": [[name, node index, tensor index], ...],
     "output_layers": [[name, node index, tensor index], ...]}
Node indices count only the calls that belong to this model (a layer shared with another
model may have more), in call order; a model made with one input (or output) tensor rather
than a list writes that entry as one triple, as Keras 3 does. A layer is written once,
however often it is called; a model called as a layer is written whole, in its entry.

Sequential model: {"name", "trainable", "layers": [the InputLayer, then each added layer]}.

Rebuilding calls the layers again, each layer's calls in their saved order, as soon as
their inputs exist (Keras's loop), so shared layers and nested models come back shared.
A layer with weights in several places of the tree (inside a nested model and beside it)
is written at each, with one "shared_object_id" (serialization.py), and comes back as one.
"""
from kcc.frontend.input_layer import InputLayer
from kcc.saving.serialization import ConfigError, deserialize_layer, loading, saving, serialize_layer


def functional_config(model):
    with saving(model):
        return _functional_config(model)


def _functional_config(model):
    members = {id(n) for n in model._nodes}
    index = {}                      # id(node) -> its index among the layer's calls here
    kept = {}
    for layer in model._layers:
        nodes = (layer._inbound_nodes[:1] if isinstance(layer, InputLayer)
                 else [n for n in layer._inbound_nodes if id(n) in members])
        kept[id(layer)] = nodes
        index.update((id(n), i) for i, n in enumerate(nodes))

    def ref(tensor):
        layer, _, tensor_index = tensor._keras_history
        return [layer.name, index[id(tensor.node)], tensor_index]

    layers = []
    for layer in model._layers:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [[ref(t) + [dict(node.arguments)] for t in node.input_tensors]
                                  for node in kept[id(layer)] if not node.is_input]
        layers.append(entry)
    inputs = [ref(t) for t in model.inputs]
    outputs = [ref(t) for t in model.outputs]
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": inputs[0] if model._single_input else inputs,
            "output_layers": outputs[0] if model._single_output else outputs}


def functional_from_config(config, where="the model config"):
    """A new Model from functional_config's data."""
    with loading():
        return _functional_from_config(config, where)


def _functional_from_config(config, where):
    from kcc.frontend.functional import Model
    _require(config, ("name", "layers", "input_layers", "output_layers"), where)
    where = f"{where}, model '{config['name']}'"
    layers, pending, order = {}, {}, []
    outputs = {}                    # (layer name, node index) -> output tensors of that call
    for i, entry in enumerate(_list(config["layers"], "layers", where)):
        layer = deserialize_layer(entry, where)
        name = entry.get("name", layer.name)
        if name in layers:
            raise ConfigError(f"{where}: two layers are named '{name}'.")
        layers[name] = layer
        order.append(name)
        if isinstance(layer, InputLayer):
            outputs[(name, 0)] = [layer.output]
            pending[name] = []
        else:
            pending[name] = [_list(node, f"layer '{name}' inbound_nodes entry", where)
                             for node in _list(entry.get("inbound_nodes", []), "inbound_nodes",
                                               where)]
    calls = {name: (1 if isinstance(layers[name], InputLayer) else 0) for name in order}
    while any(pending.values()):
        progress = False
        for name in order:
            while pending[name]:
                node = pending[name][0]
                inputs = [_lookup(outputs, r, where) for r in node]
                if any(t is None for t in inputs):
                    break
                layer = layers[name]
                kwargs = node[0][3] if node and len(node[0]) > 3 and node[0][3] else {}
                if not isinstance(kwargs, dict):
                    raise ConfigError(f"{where}: layer '{name}' is called with arguments "
                                      f"{kwargs!r}; expected a dict (as {{'training': ...}}).")
                arg = inputs if layer._multi_input or len(inputs) > 1 else inputs[0]
                try:
                    out = layer(arg, **kwargs)
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{where}: calling layer '{name}' as saved failed: "
                                      f"{exc}") from exc
                outputs[(name, calls[name])] = out if isinstance(out, list) else [out]
                calls[name] += 1
                pending[name].pop(0)
                progress = True
        if not progress:
            _report_stuck(order, pending, layers, where)
    ins = _refs(config["input_layers"], outputs, where)
    outs = _refs(config["output_layers"], outputs, where)
    model = Model(ins, outs, name=config["name"])
    model._trainable = _trainable(config, where)   # layers keep their own flags
    return model


def sequential_config(model):
    with saving(model):
        layers = [serialize_layer(model._input_layer)] if model._input_layer is not None else []
        layers += [serialize_layer(layer) for layer, _ in model._stack]
    return {"name": model.name, "trainable": model.trainable, "layers": layers}


def sequential_from_config(config, where="the model config"):
    with loading():
        return _sequential_from_config(config, where)


def _sequential_from_config(config, where):
    from kcc.frontend.sequential import Sequential
    _require(config, ("name", "layers"), where)
    where = f"{where}, model '{config['name']}'"
    model = Sequential(name=config["name"])
    for entry in _list(config["layers"], "layers", where):
        layer = deserialize_layer(entry, where)
        try:
            model.add(layer)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: adding layer '{layer.name}' as saved failed: "
                              f"{exc}") from exc
    model._trainable = _trainable(config, where)
    return model


# -- checks on the data ----------------------------------------------------------------------
def _require(config, keys, where):
    if not isinstance(config, dict):
        raise ConfigError(f"{where}: expected a model config dict, found "
                          f"{type(config).__name__}.")
    missing = [k for k in keys if k not in config]
    if missing:
        raise ConfigError(f"{where}: the model config lacks {missing}.")


def _trainable(config, where):
    value = config.get("trainable", True)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: `trainable` must be true or false, found {value!r}.")
    return value


def _list(value, what, where):
    if not isinstance(value, list):
        raise ConfigError(f"{where}: `{what}` must be a list, found {type(value).__name__}.")
    return value


def _report_stuck(order, pending, layers, where):
    """No pending call can be made: name a call that reads a layer the config lacks, else
    the first one waiting (a cycle, or a node index beyond the calls the config makes)."""
    for name in order:
        for node in pending[name]:
            for r in node:
                if r[0] not in layers:
                    raise ConfigError(f"{where}: layer '{name}' reads {r[:3]}, but the config "
                                      f"has no layer '{r[0]}'.")
    stuck = next(n for n in order if pending[n])
    raise ConfigError(f"{where}: layer '{stuck}' reads {pending[stuck][0]}, which no call in "
                      "the config produces.")


def _is_ref(r):
    return (isinstance(r, list) and len(r) >= 3 and isinstance(r[0], str)
            and all(isinstance(i, int) and not isinstance(i, bool) for i in r[1:3]))


def _lookup(outputs, r, where):
    """The tensor a [layer name, node index, tensor index, ...] entry names, None if its call
    has not been made yet."""
    if not _is_ref(r):
        raise ConfigError(f"{where}: expected [layer name, node index, tensor index], "
                          f"found {r!r}.")
    tensors = outputs.get((r[0], r[1]))
    if tensors is None:
        return None
    if not 0 <= r[2] < len(tensors):
        raise ConfigError(f"{where}: {r[:3]} names output {r[2]} of a call with "
                          f"{len(tensors)} output(s).")
    return tensors[r[2]]


def _refs(value, outputs, where):
    single = _is_ref(value)
    refs = [value] if single else _list(value, "input_layers/output_layers", where)
    tensors = []
    for r in refs:
        t = _lookup(outputs, r, where)
        if t is None:
            raise ConfigError(f"{where}: model input/output {r!r} names no call of the config.")
        tensors.append(t)
    return tensors[0] if single else tensors
