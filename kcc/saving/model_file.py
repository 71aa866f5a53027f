"""A whole model in one file: architecture, weights, compile config and optimizer state.

`model.save(path)` writes a kcc weights file (weights_file.py: safetensors, the same keys,
written atomically) whose metadata also holds, as JSON strings:

    format "kcc-model", version "1", kcc_version
    layers          the top-level layers with weights (as in a weights file)
    model_config    {"class_name": "Model" | "Sequential", "config": ...} (model_config.py)
    compile_config  optimizer (class_name/config), loss, loss_weights, metrics; absent
                    when the model was not compiled
    optimizer       {"iterations", "size", "weights": [[name, shape], ...]}: the layout of
                    the tensor "optimizer_state" (a key without '/', so never a weight's); a
                    file without them loads with a fresh optimizer and a warning, as Keras
                    skips a saved model's missing optimizer variables

Opening one runs no code: safetensors holds no pickle, the JSON names only kcc's own layer
and optimizer classes (looked up in fixed tables), and nothing is evaluated or imported.
"""
import json
import os
import warnings

import numpy as np

import kcc
from kcc.saving import weights_file
from kcc.saving.serialization import (ConfigError, deserialize_layer, expecting_weights,
                                      serialize_layer, short)

FORMAT = weights_file.MODEL_FORMAT
VERSION = "1"
OPTIMIZER_KEY = weights_file.MODEL_OPTIMIZER_KEY
# Levels of JSON nesting a saved entry may use (about 8 per model nested in a model): deeper
# data is damage, refused before anything walks it recursively.
MAX_DEPTH = 200


def model_to_json(model, **json_kwargs):
    """The architecture as a JSON string: {"class_name", "config", "kcc_version"}."""
    return json.dumps(_architecture(model), **json_kwargs)


def model_from_json(json_string, custom_objects=None):
    """A new, uncompiled model with fresh weights from model.to_json()'s string.
    custom_objects: Keras's argument; kcc compiles only its own layers, so it must be empty."""
    if custom_objects:
        raise ValueError(f"model_from_json: custom_objects={sorted(custom_objects)!r} cannot be "
                         f"used: kcc compiles only its own layers, losses and metrics")
    return _rebuild(_parse(json_string, "model_from_json: the string"), "model_from_json")


def model_from_config(config):
    """A new model from {"class_name", "config"} (or a functional config dict alone)."""
    if isinstance(config, dict) and "class_name" not in config:
        config = {"class_name": "Model", "config": config}
    return _rebuild(config, "model_from_config")


def save_model(model, path, overwrite=True):
    """Write `model` to one file at `path` (see the module docstring), atomically."""
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"'{path}' exists and overwrite=False.")
    tensors, layer_names = weights_file.weight_tensors(model)
    metadata = {"format": FORMAT, "version": VERSION, "kcc_version": kcc.__version__,
                "layers": json.dumps(layer_names),
                "model_config": json.dumps(_architecture(model))}
    native = getattr(model, "_native", None)
    if native is not None:
        metadata["compile_config"] = json.dumps(model._compile_config.to_dict())
        state = np.ascontiguousarray(native.session.optimizer_state(), dtype=np.float32)
        tensors[OPTIMIZER_KEY] = state
        metadata["optimizer"] = json.dumps({
            "iterations": int(getattr(model.optimizer, "iterations", 0) or 0),
            "size": int(state.size),
            "weights": [[w.name, list(w.shape)] for w in native.graph.weights]})
    weights_file.write_file(path, tensors, metadata)


def load_model(path, compile=True, device=None):
    """The model saved at `path`: same architecture and weights; compiled as it was saved,
    with its optimizer state, unless compile=False or it was saved uncompiled. The file
    does not tie a model to a device: it compiles for `device` ("cpu" or "cuda"), by
    default kcc.backend.device(), wherever it was trained."""
    path = os.fspath(path)
    if device is not None:
        from kcc import backend
        device = backend.canonical_device(device)   # a bad name fails before any work
    if not os.path.exists(path):
        raise FileNotFoundError(f"No kcc model file at '{path}'.")
    with weights_file.open_file(path, "a model") as f:
        metadata = f.metadata() or {}
        _check_format(metadata, path)
        architecture = _json(metadata, "model_config", path)
        stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys() if k != OPTIMIZER_KEY}
        with expecting_weights(stored):      # a config at odds with them fails before allocating
            model = _rebuild(architecture, f"'{path}'")
        weights_file.read_weights(model, f, path, skip=(OPTIMIZER_KEY,))
        compile_data = _json(metadata, "compile_config", path, required=False)
        if compile and compile_data is not None:
            _compile(model, compile_data, metadata, f, path, device)
    return model


# -- pieces --------------------------------------------------------------------------------------
def _architecture(model):
    entry = serialize_layer(model)   # the model's get_config marks its shared layers
    entry["kcc_version"] = kcc.__version__
    return entry


def _rebuild(data, where):
    from kcc.frontend.functional import Model
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a model entry {{'class_name', 'config'}}, found "
                          f"{type(data).__name__}.")
    try:
        model = deserialize_layer(data, where)
    except ConfigError as exc:       # a nested from_config does not know the file: say it
        if str(exc).startswith(where):
            raise
        raise ConfigError(f"{where}: {exc}") from exc
    except RecursionError:           # models nested in models, within MAX_DEPTH but too deep
        raise ConfigError(f"{where}: the model config nests models too deeply to rebuild "
                          "(Python's recursion limit).") from None
    if not isinstance(model, Model):
        raise ConfigError(f"{where}: the config describes a {data.get('class_name')} layer, "
                          "not a model.")
    from kcc.frontend import naming
    for layer in _all_layers(model):           # later auto names do not repeat loaded ones
        naming.reserve(layer.name)
    return model


def _all_layers(model):
    from kcc.frontend.functional import Model
    out, stack = [], [model]
    while stack:
        layer = stack.pop()
        out.append(layer)
        if isinstance(layer, Model):
            stack.extend(layer.layers)
        inner = getattr(layer, "layer", None)
        if inner is not None and inner is not layer and hasattr(inner, "name"):
            stack.append(inner)
    return out


def _check_format(metadata, path):
    found = metadata.get("format")
    if found == weights_file.FORMAT:
        raise ValueError(f"'{path}' is a kcc weights file (save_weights), not a model file: "
                         "build the model in code and call model.load_weights() on it, or "
                         "save the whole model with model.save().")
    if found != FORMAT:
        raise ValueError(f"'{path}' is a safetensors file but not a kcc model file "
                         f"(expected metadata format={FORMAT!r}, found format={found!r}).")
    if metadata.get("version") != VERSION:
        raise ValueError(f"'{path}' is a kcc model file of version "
                         f"{metadata.get('version')!r} (written by kcc "
                         f"{metadata.get('kcc_version', '?')}); this kcc "
                         f"({kcc.__version__}) reads version {VERSION!r}.")


def _json(metadata, key, path, required=True):
    text = metadata.get(key)
    if text is None:
        if required:
            raise ValueError(f"'{path}' is a kcc model file without its '{key}' entry; it is "
                             "damaged or was not written by model.save().")
        return None
    return _parse(text, f"'{path}': the '{key}' entry")


def _parse(text, what):
    """json.loads(text), or a ConfigError naming `what`: not JSON, or nested more than
    MAX_DEPTH levels (a 100,000-deep array is damage, not a model)."""
    deep = ConfigError(f"{what} is not a valid kcc model entry: its JSON nests more than "
                       f"{MAX_DEPTH} levels deep (the file is damaged, or not a kcc model).")
    try:
        data = json.loads(text)
    except RecursionError:
        raise deep from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} is not valid JSON ({exc}).") from None
    stack = [(data, 1)]                  # walked without recursion
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, dict)):
            if depth > MAX_DEPTH:
                raise deep
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict)
                                                   else value))
    return data


def _compile(model, data, metadata, f, path, device):
    from kcc.training.config import compile_arguments
    try:      # compile() checks the rest: a loss for an output the model lacks, a NaN weight
        model.compile(**compile_arguments(data), device=device)
    except ValueError as exc:
        raise ValueError(f"'{path}': cannot compile the model as saved: {exc}") from exc
    layout = _json(metadata, "optimizer", path, required=False)
    missing = [f"'{k}'" for k, there in (("optimizer", layout is not None),
                                         (OPTIMIZER_KEY, OPTIMIZER_KEY in f.keys())) if not there]
    if missing:
        # Keras, for a saved model without its optimizer variables: "Skipping variable
        # loading for optimizer", a warning, and the optimizer starts from scratch
        warnings.warn(f"'{path}' holds no optimizer state (its {' and '.join(missing)} "
                      f"{'entry is' if len(missing) == 1 else 'entries are'} missing): the model "
                      f"is compiled with a fresh {type(model.optimizer).__name__} optimizer, its "
                      "slots and iteration count at 0, as Keras does. The weights are loaded; "
                      "training goes on from them, not from the saved optimizer's state.",
                      stacklevel=3)
        return
    iterations = layout.get("iterations", 0) if isinstance(layout, dict) else None
    if (not isinstance(layout, dict) or not isinstance(iterations, int)
            or isinstance(iterations, bool) or iterations < 0):
        raise ValueError(f"'{path}': the 'optimizer' entry must be {{'iterations': a count >= 0, "
                         f"'size', 'weights': [[name, shape], ...]}}, found {short(layout)}.")
    native = model._native
    expected = [[w.name, list(w.shape)] for w in native.graph.weights]
    state = f.get_tensor(OPTIMIZER_KEY)
    if layout.get("weights") != expected or state.shape != (native.info["opt_state_size"],):
        raise ValueError(f"'{path}': the saved optimizer state (for weights "
                         f"{layout.get('weights')}, {state.size} values) does not fit the "
                         f"rebuilt model (weights {expected}, "
                         f"{native.info['opt_state_size']} values).")
    native.session.set_optimizer_state(np.ascontiguousarray(state, dtype=np.float32))
    model.optimizer.iterations = iterations
    native.session.step = iterations
