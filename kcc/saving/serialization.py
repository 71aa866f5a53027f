"""Layers as plain data: {"class_name": ..., "config": {...}}, as Keras writes them.

Loading runs no code from the file: a class name is looked up in a fixed table of kcc's own
layer classes (every Layer class `kcc.layers` exports, plus Model and Sequential), never
imported by name, and its `from_config` gets the config dict. Anything else is refused
with the name of the layer and the classes kcc knows. A file's weights bound what its config
may build (expecting_weights): a layer edited to units=10**12 is refused before it allocates.
"""
import contextlib
import contextvars
import json

from kcc.frontend.layer import Layer

_ALIASES = {"Functional": "Model"}      # Keras 3's class name of a functional model


class ConfigError(ValueError):
    """A model config kcc cannot rebuild (unknown layer class, malformed entry)."""


def layer_classes():
    """{class name: class} of every layer kcc can rebuild from a config."""
    from kcc import layers
    from kcc.frontend.functional import Model
    from kcc.frontend.sequential import Sequential
    classes = {}
    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            classes[obj.__name__] = obj
    classes["Model"], classes["Sequential"] = Model, Sequential
    return classes


# A layer with weights held in several places of one saved tree (used inside a nested model
# and beside it, or a model called and also wrapped in TimeDistributed) is written in full at
# each place, and each entry carries the same "shared_object_id" (Keras's key): loading
# builds it at the first and reuses that layer at the others, so it comes back as one layer
# with one set of weights, as it was saved.
_SAVING = contextvars.ContextVar("kcc_saving_shared_ids", default=None)   # id(layer) -> shared id
_LOADING = contextvars.ContextVar("kcc_loading_shared", default=None)     # shared id -> layer
_STORED = contextvars.ContextVar("kcc_loading_stored", default=None)      # (shapes, guarded)


@contextlib.contextmanager
def _outermost(var, make):
    """`var` set to make() for the duration, unless an outer scope already set it (a nested
    model's config is written or read inside its parent's scope, which holds)."""
    if var.get() is not None:
        yield
        return
    token = var.set(make())
    try:
        yield
    finally:
        var.reset(token)


def saving(model):
    """Serialize `model` within this: its shared layers get their shared_object_id."""
    return _outermost(_SAVING, lambda: _shared_layers(model))


def loading():
    """Deserialize a saved model within this: entries with one shared_object_id give one
    layer."""
    return _outermost(_LOADING, dict)


def _shared_layers(model):
    """{id(layer): shared id} of the layers with weights found in more than one place of
    `model`'s tree (a model's layers, a wrapper's `layer`), each walked once."""
    from kcc.frontend.functional import Model
    seen, shared = set(), {}

    def visit(layer):
        if layer.weights and id(layer) in seen:
            shared.setdefault(id(layer), len(shared) + 1)
            return
        seen.add(id(layer))
        for attr in ("layer", "forward_layer", "backward_layer"):   # wrappers' layers
            inner = getattr(layer, attr, None)
            if isinstance(inner, Layer):
                visit(inner)
        if isinstance(layer, Model):
            for child in layer._layers:
                visit(child)

    for layer in model._layers:
        visit(layer)
    return shared


def layer_entry(layer):
    """{"class_name", "config"} of a layer, and its shared_object_id while saving a model
    that holds it in several places."""
    entry = {"class_name": type(layer).__name__, "config": layer.get_config()}
    ids = _SAVING.get()
    if ids and id(layer) in ids:
        entry["shared_object_id"] = ids[id(layer)]
    return entry


def serialize_layer(layer):
    """layer_entry(layer); a ConfigError if kcc could not rebuild it."""
    _check_known(layer)
    entry = layer_entry(layer)
    _check_plain(entry["config"], f"layer '{layer.name}' ({type(layer).__name__})")
    return entry


def _check_known(layer):
    cls = type(layer)
    if layer_classes().get(cls.__name__) is not cls:
        raise ConfigError(f"Layer '{layer.name}' is of class {cls.__module__}.{cls.__name__}, "
                          "which kcc cannot save: a saved model names only kcc's own layer "
                          f"classes ({', '.join(sorted(layer_classes()))}), so that loading it "
                          "runs no code. Build the model from those, or use save_weights().")
    for attr in ("layer", "forward_layer", "backward_layer"):   # a wrapper writes its layers
        inner = getattr(layer, attr, None)                       # in its config
        if isinstance(inner, Layer):
            _check_known(inner)


def deserialize_layer(entry, where="the model config"):
    """A new layer from {"class_name", "config"}; a ConfigError naming it if that fails."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ConfigError(f"{where}: expected a layer entry {{'class_name': str, 'config': "
                          f"dict}}, found {short(entry)}.")
    class_name, config = entry["class_name"], entry["config"]
    name = config.get("name", "?")
    classes = layer_classes()
    cls = classes.get(_ALIASES.get(class_name, class_name))
    if cls is None:
        raise ConfigError(f"{where}: unknown layer class '{class_name}' (layer '{name}'). "
                          f"kcc rebuilds only its own layer classes: {', '.join(sorted(classes))}.")
    shared, built = entry.get("shared_object_id"), _LOADING.get()
    if shared is not None and (not isinstance(shared, int) or isinstance(shared, bool)):
        raise ConfigError(f"{where}: layer '{name}' ({class_name}) has shared_object_id "
                          f"{short(shared)}; expected an integer.")
    if shared is not None and built is not None and shared in built:
        layer = built[shared]
        if type(layer) is not cls or layer.name != name:
            raise ConfigError(f"{where}: layer '{name}' ({class_name}) has shared_object_id "
                              f"{shared!r}, which belongs to layer '{layer.name}' "
                              f"({type(layer).__name__}).")
        return layer
    try:
        layer = cls.from_config(dict(config))
    except ConfigError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, NotImplementedError) as exc:
        raise ConfigError(f"{where}: cannot rebuild layer '{name}' ({class_name}) from its "
                          f"config: {type(exc).__name__}: {exc}") from exc
    if shared is not None and built is not None:
        built[shared] = layer
    stored = _STORED.get()
    if stored is not None:
        _guard_weights(layer, config, *stored)
    return layer


@contextlib.contextmanager
def expecting_weights(shapes):
    """Deserialize within this to load the weights `shapes` ({file key: shape}) into the
    result: a layer about to make a weight of a shape the file does not store raises a
    ConfigError naming the layer, the weight and the config fields behind it, before the
    weight is allocated (a config edited to units=10**12 failed deep in numpy, and 10**9
    took all memory and got the process killed). Loading needs every shape there anyway."""
    guarded = []
    token = _STORED.set((shapes, guarded))
    try:
        yield
    finally:
        _STORED.reset(token)
        for layer in guarded:
            del layer.add_weight        # the class's method again


def _guard_weights(layer, config, shapes, guarded):
    """Check each weight `layer` creates against the file's `shapes` first (add_weight, by
    which every layer makes its weights, is checked on this instance while loading)."""
    add_weight = layer.add_weight

    def checked(name=None, shape=None, *args, **kwargs):
        _check_stored(layer, config, name, shape, shapes)
        return add_weight(name, shape, *args, **kwargs)

    layer.add_weight = checked
    guarded.append(layer)


def _check_stored(layer, config, name, shape, shapes):
    try:
        dims = tuple(int(d) for d in (() if shape is None else shape))
    except (TypeError, ValueError):
        return                            # add_weight says what is wrong with the shape
    if dims in shapes.values():
        return
    key = next((k for k in shapes if f"/{k}".endswith(f"/{layer.name}/{name}")), None)
    found = shapes.get(key)
    known = set(found) if found is not None else {d for s in shapes.values() for d in s}
    fields = [f"{k}={v!r}" for k, v in config.items()
              if _ints(v) & (set(dims) - known)]
    cause = (f"from its config: {', '.join(fields)}" if fields else "from its input shape")
    if found is not None:
        problem = f"the file has shape {found}, the model expects {dims} ({cause})"
    else:
        listed = ", ".join(f"{k} {s}" for k, s in list(shapes.items())[:8])
        problem = (f"the model expects shape {dims} ({cause}), but the file stores no weight of "
                   f"that shape ({listed}{', ...' if len(shapes) > 8 else ''})")
    raise ConfigError(f"Layer '{layer.name}' weight '{name}': "
                      f"{problem}. The config does not match the weights stored with it (the "
                      "file was edited or damaged); nothing was allocated for it.")


def _ints(value):
    """The integers in a config value (an int, or a list of them)."""
    values = value if isinstance(value, list) else [value]
    return {v for v in values if isinstance(v, int) and not isinstance(v, bool)}


def _check_plain(value, where):
    """Configs must be JSON data; a custom initializer function, say, is not."""
    if isinstance(value, dict):
        if value.get("class_name") == "_Function":
            raise ConfigError(f"Cannot save {where}: it uses a custom initializer function, "
                              "which a saved model cannot hold (loading runs no code). Use a "
                              "named initializer (kcc.initializers), or use save_weights().")
        for v in value.values():
            _check_plain(v, where)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_plain(v, where)
    elif not (value is None or isinstance(value, (str, bool, int, float))):
        raise ConfigError(f"Cannot save {where}: its config holds {value!r} "
                          f"({type(value).__name__}), which is not JSON data.")


def short(value, limit=80):
    text = json.dumps(value, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
