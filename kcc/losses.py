"""Losses: the names compile() accepts, their numpy references and target specs.

A loss is compiled into native code, so kcc knows it by its canonical name:

    categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
    mean_squared_error (alias mse, MSE), mean_absolute_error (alias mae, MAE)

The lowercase functions (``kcc.losses.mse``) and the classes
(``kcc.losses.MeanSquaredError()``) are accepted by ``compile`` and resolve to the
canonical name. The functions are the numpy references: per-sample loss, exactly as
Keras 3 computes it (epsilon 1e-7, float32 in, float32 out).

A crossentropy object with ``from_logits=True`` (``SparseCategoricalCrossentropy(
from_logits=True)``) takes the model's raw logits and applies the softmax / sigmoid
itself, as Keras 3 does (log-sum-exp, no clip). It resolves to the kind
``<canonical>_from_logits`` (LOGITS), the name the native code and a saved compile config
use; ``base`` maps it back to the canonical loss, which decides the targets and metrics.

``label_smoothing=ls`` (CategoricalCrossentropy and BinaryCrossentropy, as in Keras 3;
SparseCategoricalCrossentropy takes none) trains on y * (1 - ls) + ls / classes, or
y * (1 - ls) + ls / 2 for binary, with or without from_logits. It is a constant of the
loss, compiled into the native code (``smoothing`` reads it off an identifier).
"""

import functools

import numpy as np

EPSILON = 1e-7
CANONICAL = ("categorical_crossentropy", "sparse_categorical_crossentropy",
             "binary_crossentropy", "mean_squared_error", "mean_absolute_error")
LOGITS = {name: name + "_from_logits" for name in CANONICAL[:3]}
SMOOTHABLE = ("categorical_crossentropy", "binary_crossentropy")   # take label_smoothing


def base(kind):
    """The canonical loss of a kind: 'x_from_logits' -> 'x'; a canonical name is its own."""
    return next((name for name, k in LOGITS.items() if k == kind), kind)


def _float(y_pred):
    y_pred = np.asarray(y_pred)
    return y_pred if np.issubdtype(y_pred.dtype, np.floating) else y_pred.astype(np.float32)


def same_rank(y_true, y_pred):
    """Keras's squeeze_or_expand_to_same_rank: fix a rank gap of 1 over a size-1 axis.

    The operand with the extra size-1 axis loses it, unless the other one is 1-D, which
    then gains one: (n,) vs (n, 1) -> both (n, 1); (n, k) vs (n, k, 1) -> both (n, k)."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            return y_true, y_pred[:, None]
        return y_true[..., 0], y_pred
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            return y_true[:, None], y_pred
        return y_true, y_pred[..., 0]
    return y_true, y_pred


def _clip(p):
    eps = p.dtype.type(EPSILON)
    return np.clip(p, eps, p.dtype.type(1) - eps)


def _log_softmax(z):
    m = np.max(z, axis=-1, keepdims=True)
    return (z - m) - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    y_pred = _float(y_pred)
    y_true = np.asarray(y_true).astype(y_pred.dtype)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_crossentropy: `y_true` and `y_pred` must have the same "
                         f"shape. Received: y_true.shape={y_true.shape}, "
                         f"y_pred.shape={y_pred.shape}")
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + label_smoothing / y_true.shape[-1]
    if from_logits:
        return -np.sum(y_true * _log_softmax(y_pred), axis=-1)
    p = _clip(y_pred / np.sum(y_pred, axis=-1, keepdims=True))
    return -np.sum(y_true * np.log(p), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    y_pred = _float(y_pred)
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    labels = labels.astype(np.int64)
    classes = y_pred.shape[-1]
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy: integer labels must have shape "
                         f"{y_pred.shape[:-1]} or {y_pred.shape[:-1] + (1,)}. "
                         f"Received: y_true.shape={np.shape(y_true)}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"sparse_categorical_crossentropy: labels must be in [0, {classes}). "
                         f"Received labels in [{labels.min()}, {labels.max()}]")
    if from_logits:
        return -np.take_along_axis(_log_softmax(y_pred), labels[..., None], axis=-1)[..., 0]
    p = _clip(y_pred / np.sum(y_pred, axis=-1, keepdims=True))
    return -np.log(np.take_along_axis(p, labels[..., None], axis=-1))[..., 0]


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    y_pred = _float(y_pred)
    y_true, y_pred = same_rank(np.asarray(y_true).astype(y_pred.dtype), y_pred)
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:     # max(z, 0) - z y + log(1 + e^-|z|): never overflows
        z = y_pred
        return np.mean(np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z))), axis=-1)
    p = _clip(y_pred)
    return np.mean(-(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)), axis=-1)


def mean_squared_error(y_true, y_pred):
    y_pred = _float(y_pred)
    y_true, y_pred = same_rank(np.asarray(y_true).astype(y_pred.dtype), y_pred)
    return np.mean(np.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_pred = _float(y_pred)
    y_true, y_pred = same_rank(np.asarray(y_true).astype(y_pred.dtype), y_pred)
    return np.mean(np.abs(y_pred - y_true), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_REFERENCES = {f.__name__: f for f in (categorical_crossentropy, sparse_categorical_crossentropy,
                                       binary_crossentropy, mean_squared_error,
                                       mean_absolute_error)}
_REFERENCES.update({kind: functools.partial(_REFERENCES[name], from_logits=True)
                    for name, kind in LOGITS.items()})


class Loss:
    """Keras-style loss object; kcc compiles it by ``canonical`` name."""

    canonical = None

    def __init__(self, name=None, reduction="sum_over_batch_size", from_logits=False,
                 label_smoothing=0.0):
        owner = type(self).__name__
        if from_logits not in (True, False):     # True/False, 1/0, numpy bools
            raise ValueError(f"{owner}: `from_logits` must be True or False. "
                             f"Received: from_logits={from_logits!r}")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0 <= label_smoothing <= 1:
            raise ValueError(f"{owner}: `label_smoothing` must be a number in [0, 1]. "
                             f"Received: label_smoothing={label_smoothing!r}")
        if reduction not in ("sum_over_batch_size", "auto", None):
            raise ValueError(f"{owner}: only reduction='sum_over_batch_size' (the mean over the "
                             f"batch) is supported. Received: reduction={reduction!r}")
        self.name = name or self.canonical
        self.reduction = "sum_over_batch_size"
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    @property
    def kind(self):
        """What compile() compiles: the canonical name, or its LOGITS kind."""
        return LOGITS[self.canonical] if self.from_logits else self.canonical

    def __call__(self, y_true, y_pred):
        """The batch loss (mean of the per-sample losses), in numpy."""
        return np.mean(reference(self, y_true, y_pred))

    def get_config(self):
        config = {"name": self.name, "reduction": self.reduction}
        if self.canonical in LOGITS:
            config["from_logits"] = self.from_logits
        if self.canonical in SMOOTHABLE:
            config["label_smoothing"] = self.label_smoothing
        return config


class CategoricalCrossentropy(Loss):
    canonical = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy"):
        _check_axis(self, axis)
        super().__init__(name, reduction, from_logits, label_smoothing)


class SparseCategoricalCrossentropy(Loss):
    canonical = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        if ignore_class is not None:
            raise ValueError(f"SparseCategoricalCrossentropy: `ignore_class` is not supported by "
                             f"kcc yet. Received: ignore_class={ignore_class!r}")
        super().__init__(name, reduction, from_logits)


class BinaryCrossentropy(Loss):
    canonical = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy"):
        _check_axis(self, axis)
        super().__init__(name, reduction, from_logits, label_smoothing)


class MeanSquaredError(Loss):
    canonical = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(name, reduction)


class MeanAbsoluteError(Loss):
    canonical = "mean_absolute_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(name, reduction)


def _check_axis(loss, axis):
    if axis != -1:
        raise ValueError(f"{type(loss).__name__}: only axis=-1 is supported. Received: axis={axis!r}")


_CLASSES = (CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
            MeanSquaredError, MeanAbsoluteError)
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}
_ALIASES.update({name: name for name in CANONICAL})
_ALIASES.update({kind: kind for kind in LOGITS.values()})   # as a saved compile config says
_ALIASES.update({cls.__name__.lower(): cls.canonical for cls in _CLASSES})


def get(identifier):
    """The canonical loss name for a name, alias, loss function, Loss class or instance
    (the LOGITS kind for an instance with from_logits=True)."""
    if isinstance(identifier, Loss):
        if identifier.canonical:
            return identifier.kind
    elif isinstance(identifier, type) and issubclass(identifier, Loss):
        if identifier.canonical:
            return identifier.canonical
    elif isinstance(identifier, str):
        name = _ALIASES.get(identifier.lower())
        if name:
            return name
    elif callable(identifier) and _REFERENCES.get(getattr(identifier, "__name__", None)) \
            is identifier:
        return identifier.__name__
    what = getattr(identifier, "__name__", None) or repr(identifier)
    hint = (" (kcc compiles losses to native code, so custom loss functions are not supported)"
            if callable(identifier) else "")
    raise ValueError(f"Unknown loss: {what}{hint}. Valid names: {list(CANONICAL)} "
                     f"(aliases: mse, mae)")


def smoothing(identifier):
    """The label_smoothing of a loss identifier: a Loss instance's own, else 0."""
    return identifier.label_smoothing if isinstance(identifier, Loss) else 0.0


def smoothed(kind, label_smoothing):
    """A loss identifier for ``kind`` (as ``get`` returns) smoothing its labels by
    ``label_smoothing``: the kind itself when that is 0 (how a saved config rebuilds it)."""
    if not label_smoothing:
        return kind
    cls = next((c for c in _CLASSES if c.canonical == base(kind)), None)
    if cls is None or cls.canonical not in SMOOTHABLE:
        raise ValueError(f"Loss {kind!r} takes no label_smoothing (only {list(SMOOTHABLE)} and "
                         f"their from_logits kinds do). Received: "
                         f"label_smoothing={label_smoothing!r}")
    return cls(from_logits=kind != cls.canonical, label_smoothing=label_smoothing)


def reference(loss, y_true, y_pred):
    """Per-sample loss of ``loss`` (any identifier ``get`` accepts), in numpy."""
    ls = smoothing(loss)
    return _REFERENCES[get(loss)](y_true, y_pred, **({"label_smoothing": ls} if ls else {}))


def _per_sample(output_shape):
    """(None, 10) or (10,) -> (10,): a leading None batch dimension is dropped."""
    shape = tuple(output_shape)
    return shape[1:] if shape and shape[0] is None else shape


def target_spec(loss, output_shape):
    """(per-sample target shape, dtype) that ``loss`` needs for an output of this shape.

    Sparse categorical: integer labels, shape output[:-1] + (1,) (output[:-1] is also
    accepted). Others: the output's own shape, float32 (a missing trailing axis of size
    1 is also accepted)."""
    shape = _per_sample(output_shape)
    if base(get(loss)) == "sparse_categorical_crossentropy":
        return shape[:-1] + (1,), "int32"
    return shape, "float32"


def target_kind(loss):
    """'sparse' (integer class labels) or 'dense' (same shape as the output)."""
    return "sparse" if base(get(loss)) == "sparse_categorical_crossentropy" else "dense"


def prepare_target(loss, y, output_shape, output_name=None):
    """``y`` as a C-contiguous array of shape (n,) + target_spec shape, or a clear error."""
    name = base(get(loss))
    spec_shape, dtype = target_spec(name, output_shape)
    y = np.asarray(y)
    per_sample = y.shape[1:]
    if per_sample == spec_shape:
        pass
    elif spec_shape and spec_shape[-1] == 1 and per_sample == spec_shape[:-1]:
        y = y.reshape(y.shape + (1,))
    elif name != "sparse_categorical_crossentropy" and per_sample == spec_shape + (1,):
        y = y.reshape(y.shape[:-1])
    else:
        where = f" for output '{output_name}'" if output_name else ""
        hint = ""
        if name == "categorical_crossentropy" and per_sample in (spec_shape[:-1],
                                                                 spec_shape[:-1] + (1,)):
            hint = (". For integer class labels use loss='sparse_categorical_crossentropy', "
                    "or one-hot encode them with kcc.utils.to_categorical")
        raise ValueError(f"Target{where} does not match loss '{name}': expected an array of "
                         f"shape {('n',) + spec_shape} ({dtype}), received shape {y.shape}{hint}")
    return np.ascontiguousarray(y, dtype=dtype)
