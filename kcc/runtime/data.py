"""Checks and converts user arrays before any native code reads them.

Everything the C++ side would otherwise trip over (wrong feature count, wrong number of
arrays, mismatched row counts, strings, class ids out of range) is a Python exception
here that names the model input or output, what was expected and what was given.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _as_list(data, names: Sequence[str], what: str, kind: str, missing_ok: bool = False) -> list:
    """x / y given as one array, a list in model order, or a dict keyed by layer name (with
    `missing_ok`, a name the dict leaves out gives None)."""
    if isinstance(data, dict):
        unknown = [k for k in data if k not in names]
        if unknown:
            raise ValueError(f"Unknown {kind} name(s) {unknown} in the dict passed as `{what}`. "
                             f"Valid names: {list(names)}")
        if missing_ok:
            return [data.get(k) for k in names]
        missing = [k for k in names if k not in data]
        if missing:
            raise ValueError(f"The dict passed as `{what}` is missing {kind}(s) {missing}. "
                             f"Expected keys: {list(names)}")
        return [data[k] for k in names]
    if isinstance(data, (list, tuple)):
        # one input given as nested Python lists (x.tolist()): the list is the data itself
        if len(names) == 1 and data and not any(isinstance(a, np.ndarray) for a in data) and (
                len(data) != 1 or not isinstance(data[0], (list, tuple))):
            return [data]
        if len(data) != len(names):
            raise ValueError(f"The model expects {len(names)} {kind} array(s) in `{what}` "
                             f"({', '.join(names)}), but received a list of {len(data)}")
        return list(data)
    if len(names) != 1:
        raise ValueError(f"The model has {len(names)} {kind}s ({', '.join(names)}): pass `{what}` as "
                         f"a list of {len(names)} arrays or a dict keyed by {kind} name; "
                         f"received a single {type(data).__name__}")
    return [data]


def _numeric(a, name: str, kind: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"Could not convert the data for {kind} '{name}' to an array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"The data for {kind} '{name}' must be numeric; received an array of "
                        f"dtype {arr.dtype}")
    return arr


def inputs(data, names: Sequence[str], shapes: Sequence[tuple], dtypes: Sequence[str],
           what: str = "x", bounds: dict | None = None) -> list[np.ndarray]:
    """bounds: input name -> (ids must be below this, the layer that reads them)."""
    arrays = _as_list(data, names, what, "input")
    where = "" if what == "x" else f" (in `{what}`)"   # which argument, when not the obvious one
    out = []
    for a, name, shape, dtype in zip(arrays, names, shapes, dtypes):
        arr = _numeric(a, name, "input")
        if arr.ndim != len(shape) + 1 or tuple(arr.shape[1:]) != tuple(shape):
            raise ValueError(f"Input '{name}'{where} expects arrays of shape {_fmt_shape((None,) + tuple(shape))}, "
                             f"received an array of shape {_fmt_shape(arr.shape)}")
        if dtype == "int32":
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
                raise ValueError(f"Input '{name}'{where} holds integer ids (dtype int32); received "
                                 f"non-integer floats")
            if arr.size:   # the range of the values given, before a cast could wrap them
                lo, hi = int(arr.min()), int(arr.max())
                if bounds and name in bounds:
                    bound, layer = bounds[name]
                    if lo < 0 or hi >= bound:
                        raise ValueError(f"Layer {layer} has input_dim={bound}, so the ids in input "
                                         f"'{name}'{where} must lie in [0, {bound}); received ids from "
                                         f"{lo} to {hi}")
                elif lo < -2**31 or hi >= 2**31:
                    raise ValueError(f"Input '{name}'{where} holds int32 values; received values from {lo} "
                                     f"to {hi}, outside the int32 range")
            arr = np.ascontiguousarray(arr, dtype=np.int32)
        else:
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        out.append(arr)
    same_rows(list(zip(names, out)), "input")
    return out


def targets(data, names: Sequence[str], specs: Sequence[tuple], losses: Sequence[str],
            out_shapes: Sequence[tuple], what: str = "y") -> list[np.ndarray]:
    """specs: (per-sample target shape, dtype) per output, from the loss."""
    arrays = _as_list(data, names, what, "output")
    where = "" if what == "y" else f" (in `{what}`)"
    out = []
    for a, name, (shape, dtype), loss, oshape in zip(arrays, names, specs, losses, out_shapes):
        arr = _numeric(a, name, "output")
        if dtype == "int32":       # sparse labels: one class id per row of the output
            ids_shape = tuple(oshape[:-1])
            if tuple(arr.shape[1:]) == ids_shape + (1,):
                arr = arr[..., 0]
            if tuple(arr.shape[1:]) != ids_shape:
                want = _fmt_shape((None,) + ids_shape)
                raise ValueError(f"Output '{name}'{where} with loss {loss} expects integer class ids of "
                                 f"shape {want} (or with a trailing axis of 1); received shape "
                                 f"{_fmt_shape(arr.shape)}")
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
                raise ValueError(f"Output '{name}'{where} with loss {loss} expects integer class ids; "
                                 f"received non-integer or non-finite values")
            classes = oshape[-1]
            if arr.size and (arr.min() < 0 or arr.max() >= classes):
                raise ValueError(f"Output '{name}'{where} with loss {loss} has {classes} classes, so "
                                 f"labels must lie in [0, {classes}); received labels from "
                                 f"{int(arr.min())} to {int(arr.max())}")
            arr = np.ascontiguousarray(arr, dtype=np.int32).reshape((len(arr),) + tuple(shape))
        else:
            want = (None,) + tuple(shape)
            if arr.ndim == 1 and tuple(shape) == (1,):
                arr = arr.reshape(-1, 1)
            if arr.ndim != len(want) or tuple(arr.shape[1:]) != tuple(shape):
                hint = ""
                if loss.startswith("categorical_crossentropy") and (arr.ndim == 1 or (
                        arr.ndim == 2 and arr.shape[1] == 1 and arr.dtype.kind in "iu")):
                    hint = (" (integer class ids? use loss='sparse_categorical_crossentropy', or "
                            "one-hot encode them with kcc.utils.to_categorical)")
                raise ValueError(f"Output '{name}'{where} expects targets of shape {_fmt_shape(want)} for "
                                 f"loss {loss}; received an array of shape "
                                 f"{_fmt_shape(arr.shape)}{hint}")
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        out.append(arr)
    same_rows(list(zip(names, out)), "output")
    return out


def sample_weights(weight, class_weight, ys: Sequence[np.ndarray], names: Sequence[str],
                   what: str = "sample_weight") -> list[np.ndarray | None]:
    """One float32 array per output, (n,) or per timestep (n, T) (None: every sample weighs
    1), from Keras's `sample_weight` (one array of one weight per sample for every output,
    or a list / dict with one per output, None entries allowed) and `class_weight` (a dict class id -> weight, single-output
    models, read off the targets as Keras does: the argmax of one-hot rows, else the
    rounded label)."""
    n = len(ys[0]) if ys else 0
    if class_weight is not None:
        if weight is not None:
            raise ValueError("Pass either `sample_weight` or `class_weight`, not both (Keras "
                             "multiplies nothing: give the product as sample_weight)")
        if len(ys) != 1:
            raise ValueError(f"`class_weight` is only supported for models with a single output; "
                             f"this model has {len(ys)} ({', '.join(names)}). Pass `sample_weight` "
                             f"with one array per output instead")
        if not isinstance(class_weight, dict):
            raise ValueError(f"`class_weight` must be a dict mapping class ids to weights; "
                             f"received {type(class_weight).__name__}")
        y = ys[0]
        if y.ndim != 2 or (y.dtype == np.int32 and y.shape[1] != 1):
            raise ValueError(f"`class_weight` needs one label per sample; output '{names[0]}' has "
                             f"targets of shape {_fmt_shape((None,) + y.shape[1:])}. Pass "
                             f"`sample_weight` instead")
        # one-hot rows: the class is the argmax; one column: the label, rounded (binary 0/1)
        labels = np.argmax(y, axis=-1) if y.shape[1] > 1 else np.round(y[:, 0])
        labels = labels.astype(np.int64)
        w = np.ones(n, np.float32)
        for cls, cw in class_weight.items():
            if not np.isfinite(float(cw)):
                raise ValueError(f"`class_weight` for class {cls} must be finite; received {cw}")
            w[labels == int(cls)] = float(cw)
        return [w]
    if weight is None:
        return [None] * len(ys)
    if isinstance(weight, dict) or (isinstance(weight, (list, tuple)) and not (
            len(names) == 1 and weight and np.isscalar(weight[0]))):
        # per output, in order or by name; an output a dict leaves out weighs 1
        per_output = _as_list(weight, names, what, "output", missing_ok=True)
    else:
        per_output = [weight] * len(ys)    # one array weighs every output, as in Keras
        shape = np.shape(weight)
        if len(ys) > 1 and not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise ValueError(f"For a model with several outputs ({', '.join(names)}), a single "
                             f"`{what}` array must hold one weight per sample, shape ({n},); "
                             f"received shape {_fmt_shape(shape)}. For weights per timestep, "
                             f"pass a list or dict with one array per output")
    out = []
    for w, name, y in zip(per_output, names, ys):
        out.append(None if w is None else _weight_array(w, name, y, what))
    return out


def _weight_array(w, name: str, y: np.ndarray, what: str) -> np.ndarray:
    """One output's weights: (n,) (one per sample, (n, 1) too) or, for an output with
    several rows per sample (a per-timestep loss: rows (T,) for targets (n, T, D) or
    sparse (n, T, 1)), one per row, (n, T) (or (n, T, 1)), as Keras 3's temporal weights."""
    n, rows = len(y), tuple(y.shape[1:-1])
    arr = _numeric(w, name, "output")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif rows and arr.shape == (n,) + rows + (1,):
        arr = arr[..., 0]
    if arr.shape != (n,) and not (rows and arr.shape == (n,) + rows):
        want = f"({n},)" + (f" or, one per timestep, {_fmt_shape((n,) + rows)}" if rows else "")
        raise ValueError(f"`{what}` for output '{name}' must hold one weight per sample, shape "
                         f"{want}; received shape {_fmt_shape(arr.shape)}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{what}` for output '{name}' holds non-finite weights")
    return arr


def with_weights(ys: Sequence[np.ndarray], weights: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Each output's targets as the compiled losses read them (kcc/templates/losses/_rows.j2):
    a sample is R rows (its rows shape y.shape[1:-1]; 1 for a per-sample loss), each row its
    D target values (or one class id) and then its weight (1 when None), a float in the
    row's last slot (an int32 slot's bits after a class id). A per-sample weight repeats on
    every row. Array rows stay samples, so slicing by rows holds."""
    out = []
    for y, w in zip(ys, weights):
        n, width = len(y), y.shape[-1] if y.ndim > 1 else 1
        rows = y.reshape(n, -1, width)
        packed = np.empty((n, rows.shape[1], width + 1), y.dtype)
        packed[..., :-1] = rows
        packed.view(np.float32)[..., -1] = 1.0 if w is None else w.reshape(n, -1)
        out.append(packed.reshape(n, -1))
    return out


def unweighted(ys: Sequence[np.ndarray], widths: Sequence[int]) -> list[np.ndarray]:
    """Copies of with_weights' targets with every sample weighing 1 (widths: each output's
    target values per row, D, or 1 for class ids)."""
    out = []
    for y, width in zip(ys, widths):
        y = y.copy()
        y.view(np.float32).reshape(len(y), -1, width + 1)[..., -1] = 1.0
        out.append(y)
    return out


def same_rows(named: list[tuple[str, np.ndarray]], kind: str) -> int:
    counts = {name: len(a) for name, a in named}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise ValueError(f"All {kind} arrays must have the same number of samples; received {listed}")
    return next(iter(counts.values()), 0)


def batch_size(value, default: int = 32) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 < value < 2**62:
        raise ValueError(f"Received an invalid value for `batch_size`, expected a positive "
                         f"integer. Received: batch_size={value!r}")
    return int(value)
