"""A model's weights as one safetensors file.

Why safetensors: opening it runs no code (no pickle), and its layout is
plain enough for the exported C program to read later: an 8-byte
little-endian header length, a JSON header (key -> dtype, shape, byte
offsets, plus "__metadata__"), then the raw little-endian tensor bytes.

Keys are "<layer name>/<weight name>" (e.g. "dense_1/kernel"); a model used
as a layer is a path of names, "<model name>/<layer name>/<weight name>"
(e.g. "model_1/dense_1/kernel"), to any depth, as Keras 2 nests an inner
model's weights under its name. A weight reachable along several paths (a
layer shared by a nested model and its outer model) is stored once, under
the first path in model order. The metadata is {"format": "kcc-weights",
"version": "1", "layers": <JSON list of the names of the top-level layers
that have weights, in model order>}. Layers without weights (Input,
Dropout, ...) are not recorded, so adding or removing one does not
invalidate a weights file.

A whole-model file (model.save, model_file.py) is this file with more
metadata and one more tensor, "optimizer_state" (a key without '/', so
never a weight's); load_weights reads the weights of one too.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import warnings

import numpy as np
import safetensors.numpy as st_numpy
from safetensors import safe_open

from kcc.frontend.functional import Model
from kcc.frontend.layer import Layer
from kcc.frontend.variable import bump_host_generation

FORMAT = "kcc-weights"
VERSION = "1"
MODEL_FORMAT = "kcc-model"  # model.save(): these weights plus config (kcc/saving/model_file.py)
MODEL_OPTIMIZER_KEY = "optimizer_state"  # a model file's optimizer state: not a weight
_FLOAT_DTYPES = {"F16", "F32", "F64"}  # safetensors' names for float widths


def save_weights(model, path) -> None:
    """Write every weight of `model` to `path`, atomically.

    The file is safetensors whatever its name: "model.weights.h5" (the
    Keras 3 habit) is accepted but is not HDF5. The new file replaces the
    old one only once it is fully on disk; if anything fails, the old file
    is untouched and no temporary file is left behind.
    """
    tensors, layer_names = weight_tensors(model)
    metadata = {"format": FORMAT, "version": VERSION, "layers": json.dumps(layer_names)}
    write_file(path, tensors, metadata)


def weight_tensors(model):
    """({key: array} of every weight of `model`, [names of the top-level layers with weights])."""
    tensors, layer_names = {}, []
    for layer, weights in _weighted_layers(model):
        layer_names.append(layer.name)
        for name, weight in weights:
            key = f"{layer.name}/{name}"
            if key in tensors:
                where, _, weight_name = key.rpartition("/")
                raise ValueError(
                    f"Layer '{where}' has two weights named '{weight_name}'; "
                    "weight names must be unique within a layer to be saved."
                )
            tensors[key] = np.require(weight.value, requirements="C")   # keeps a 0-d weight 0-d
    return tensors, layer_names


def write_file(path, tensors, metadata) -> None:
    """`tensors` and string `metadata` as one safetensors file at `path`, atomically."""
    path = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(path)
    # Same directory as the target, so os.replace is a rename on one
    # filesystem; O_EXCL with a random name, so we never clobber anything;
    # mode 0666 filtered by the umask, like any file the user creates.
    tmp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot save to '{path}': it is a directory")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:   # name the file asked for, not the temporary one beside it
        raise type(exc)(exc.errno, f"Cannot save to '{path}': {exc.strerror} (in '{directory}')") from None
    try:
        st_numpy.save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb+") as f:
            _sort_metadata(f)
            os.fsync(f.fileno())  # data on disk before the name points at it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)  # make the rename itself durable


def load_weights(model, path) -> None:
    """Copy the weights in `path` into `model`'s live buffers, all or nothing.

    Every layer, weight name, shape and dtype is checked first; any problem
    raises one ValueError listing all of them, and no weight is changed.
    The values are copied into the existing arrays (np.copyto), so compiled
    code holding pointers to them sees the new weights. A whole-model file
    (model.save) is accepted too: its weights are stored the same way.
    """
    path = os.fspath(path)
    with open_file(path, "weights") as f:
        metadata = f.metadata() or {}
        skip = ()
        if metadata.get("format") == MODEL_FORMAT:
            skip = (MODEL_OPTIMIZER_KEY,)
        else:
            _check_format(metadata, path)
        read_weights(model, f, path, skip)


def open_file(path, what="weights"):
    """safe_open(path), or a ValueError saying the file is not safetensors (truncated,
    corrupt, something else); a missing file stays a FileNotFoundError."""
    try:
        return safe_open(path, framework="np")
    except FileNotFoundError:
        raise
    except Exception as exc:  # safetensors raises its own SafetensorError
        verb = "save_weights()" if what == "weights" else "model.save()"
        raise ValueError(
            f"Cannot read {what} from '{path}': it is not a safetensors file, "
            f"or it is truncated or corrupt ({exc}). Save it with "
            f"kcc's {verb}."
        ) from exc


def read_weights(model, f, path, skip=()) -> None:
    """The body of load_weights for an open file `f`; the keys in `skip` (a model
    file's optimizer state) are not weights and are left alone."""
    problems, plan = _match(model, f, skip)
    if problems:
        plan = _match_by_order(model, f, skip)
        if plan is None:
            raise ValueError(
                f"Cannot load the weights in '{path}' into this model "
                f"(no weight was changed):\n  " + "\n  ".join(problems)
            )
    # Read everything before writing anything: a read error half way
    # must not leave the model with a mix of old and new weights.
    loaded = [(weight, f.get_tensor(key)) for key, weight in plan]
    for weight, array in loaded:
        np.copyto(weight.value, array, casting="same_kind")
    bump_host_generation()   # device copies of these weights are now stale


def _weighted_layers(model):
    """(layer, [(name, weight)]) for each top-level layer that has weights.

    `name` is the weight's key below the layer: its own name, or for a nested
    model "<inner layer>/.../<weight name>". Each weight appears once in all.
    """
    return _with_weights(model.layers, set())


def _with_weights(layers, seen_weights):
    """(layer, [(name, weight)]) for the `layers` that have weights not yet in
    `seen_weights`; their names must be usable as keys (unique, no '/')."""
    names, result = set(), []
    for layer in layers:
        weights = _named_weights(layer, seen_weights)
        if not weights:
            continue
        if "/" in layer.name:
            raise ValueError(
                f"Layer name '{layer.name}' contains '/', which separates the "
                "layer from the weight name in the file's keys. Rename the layer."
            )
        if layer.name in names:
            raise ValueError(
                f"Two layers are named '{layer.name}'; layer names must be "
                "unique to save or load weights by name."
            )
        names.add(layer.name)
        result.append((layer, weights))
    return result


def _bidirectional_pair(layer):
    """A Bidirectional wrapper's (forward, backward) layers, else None."""
    pair = (getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None))
    return pair if all(isinstance(sub, Layer) for sub in pair) else None


def _named_weights(layer, seen_weights):
    """[(key below `layer`, weight)], depth first through nested models,
    skipping weights already in `seen_weights` (a set of ids, updated).
    A wrapper (TimeDistributed) holds its inner layer's weights: a wrapped
    layer's keys are the wrapper's own, a wrapped model's are its path."""
    inner = getattr(layer, "layer", None)
    if isinstance(inner, Layer):
        return _named_weights(inner, seen_weights)
    pair = _bidirectional_pair(layer)
    if pair:                        # Bidirectional: forward_lstm_1/kernel, backward_lstm_1/...
        return [(f"{sub.name}/{name}", w) for sub in pair
                for name, w in _named_weights(sub, seen_weights)]
    if isinstance(layer, Model):
        return [(f"{inner.name}/{name}", w)
                for inner, weights in _with_weights(layer.layers, seen_weights)
                for name, w in weights]
    out = []
    for weight in layer.weights:
        if id(weight) not in seen_weights:
            seen_weights.add(id(weight))
            out.append((weight.name, weight))
    return out


def _check_format(metadata: dict, path: str) -> None:
    if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise ValueError(
            f"'{path}' is a safetensors file but not a kcc weights file "
            f"(expected metadata format={FORMAT!r} version={VERSION!r}, found "
            f"format={metadata.get('format')!r} version={metadata.get('version')!r})."
        )


def _match(model, f, skip=()):
    """Compare the file with the model: (problems, [(key, weight) to load])."""
    in_file: dict[str, dict[str, str]] = {}  # layer -> weight name -> key
    for key in f.keys():
        if key in skip:
            continue
        layer_name, _, weight_name = key.partition("/")
        in_file.setdefault(layer_name, {})[weight_name] = key
    problems, plan = [], []
    model_layers = _weighted_layers(model)
    for layer, weights in model_layers:
        found = in_file.get(layer.name)
        if found is None:
            names = [name for name, _ in weights]
            problems.append(f"Layer '{layer.name}' is missing from the file "
                            f"(the model expects weights {names}).")
            continue
        for name, weight in weights:
            key = found.get(name)
            if key is None:
                problems.append(f"{_where(layer.name, name)}: missing from the file.")
                continue
            problems += _compare(f.get_slice(key), _where(layer.name, name), weight)
            plan.append((key, weight))
        expected = {name for name, _ in weights}
        for extra in sorted(set(found) - expected):
            problems.append(f"{_where(layer.name, extra)}: in the file, "
                            "but the model's layer has no such weight.")
    known = {layer.name for layer, _ in model_layers}
    for extra in sorted(set(in_file) - known):
        problems.append(f"Layer '{extra}': in the file, but the model has no "
                        "layer of that name with weights.")
    return problems, plan


def _match_by_order(model, f, skip=()):
    """When the layer names differ but nothing else does (the same architecture built again,
    say a notebook cell run twice: dense_4 where the file has dense_1), pair the file's
    layers with the model's in their saved order, as Keras does (Keras 2's by_name=False,
    Keras 3's structural matching), with a warning that says so. [(key, weight)], or None
    unless every layer pairs up with the same weight names, shapes and dtypes."""
    try:
        order = json.loads((f.metadata() or {}).get("layers", ""))
    except (ValueError, RecursionError):   # damaged: no order to go by
        return None
    model_layers = _weighted_layers(model)
    if not isinstance(order, list) or len(order) != len(model_layers):
        return None
    keys = {k for k in f.keys() if k not in skip}
    plan, renamed = [], []
    for file_layer, (layer, weights) in zip(order, model_layers):
        if not isinstance(file_layer, str):
            return None
        ours = {f"{file_layer}/{name}": weight for name, weight in weights}
        if set(ours) != {k for k in keys if k.startswith(f"{file_layer}/")}:
            return None
        for key, weight in ours.items():
            if _compare(f.get_slice(key), key, weight):
                return None
            plan.append((key, weight))
        if file_layer != layer.name:
            renamed.append(f"{file_layer} -> {layer.name}")
    if len(plan) != len(keys):
        return None
    warnings.warn(f"The layer names in the weights file differ from the model's; the weights "
                  f"were loaded by layer order, as Keras does ({', '.join(renamed)}). Give the "
                  f"layers names (name=...) to load by name.", stacklevel=5)
    return plan


def _where(layer_name: str, name: str) -> str:
    """"Layer 'model_1/dense_1' weight 'kernel'" for the key below a top-level layer."""
    path, _, weight_name = f"{layer_name}/{name}".rpartition("/")
    return f"Layer '{path}' weight '{weight_name}'"


def _compare(file_slice, where: str, weight) -> list[str]:
    found, expected = tuple(file_slice.get_shape()), tuple(weight.shape)
    if found != expected:
        return [f"{where}: the file has shape {found}, the model expects {expected}."]
    dtype = file_slice.get_dtype()
    if dtype not in _FLOAT_DTYPES:
        return [f"{where}: the file has dtype {dtype}, the model expects "
                f"floating point ({np.asarray(weight.value).dtype})."]
    return []


def _sort_metadata(f) -> None:
    """Rewrite the header of the safetensors file open in `f` with its metadata keys sorted:
    the library writes them in a random order, so the same weights gave files with other
    bytes (and checksums) every time. The header keeps its length (the same keys and values,
    reordered), so the data does not move; anything unexpected leaves the file as written."""
    head = f.read(8)
    length = int.from_bytes(head, "little")
    raw = f.read(length)
    header = json.loads(raw)
    meta = header.get("__metadata__")
    if not isinstance(meta, dict):
        return
    ordered = {"__metadata__": dict(sorted(meta.items()))}
    ordered.update((k, v) for k, v in header.items() if k != "__metadata__")
    new = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(new) > length:
        return
    f.seek(8)
    f.write(new + b" " * (length - len(new)))   # safetensors pads its header with spaces too
    f.flush()


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some filesystems do not allow opening a directory
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
