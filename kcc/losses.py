"""Losses: the names compile() accepts, their numpy references and target specs.

A loss is compiled into native code, so kcc knows it by its canonical name:

    categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
    mean_squared_error (alias mse, MSE), mean_absolute_error (alias mae, MAE),
    mean_absolute_percentage_error (mape), mean_squared_logarithmic_error (msle),
    huber, log_cosh (Keras 2's logcosh), kl_divergence (kld, kullback_leibler_divergence),
    poisson, hinge, squared_hinge, categorical_hinge, cosine_similarity

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
``Huber(delta=)`` is compiled in the same way (``delta``).
"""

import functools

import numpy as np

EPSILON = 1e-7
CANONICAL = ("categorical_crossentropy", "sparse_categorical_crossentropy",
             "binary_crossentropy", "mean_squared_error", "mean_absolute_error",
             "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "huber",
             "log_cosh", "kl_divergence", "poisson", "hinge", "squared_hinge",
             "categorical_hinge", "cosine_similarity")
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


def _pair(y_true, y_pred):
    """float targets and predictions at the same rank (Keras's LossFunctionWrapper.call)."""
    y_pred = _float(y_pred)
    return same_rank(np.asarray(y_true).astype(y_pred.dtype), y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = y_pred.dtype.type(EPSILON)
    return 100 * np.mean(np.abs((y_true - y_pred) / np.maximum(np.abs(y_true), eps)), axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = y_pred.dtype.type(EPSILON)
    return np.mean(np.square(np.log(np.maximum(y_pred, eps) + 1)
                             - np.log(np.maximum(y_true, eps) + 1)), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    y_true, y_pred = _pair(y_true, y_pred)
    delta = y_pred.dtype.type(delta)
    error = y_pred - y_true
    a = np.abs(error)
    return np.mean(np.where(a <= delta, 0.5 * np.square(error), delta * a - 0.5 * delta * delta),
                   axis=-1)


def log_cosh(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true     # x + softplus(-2x) - log 2, which never overflows
    return np.mean(x + np.logaddexp(0, -2 * x) - np.log(y_pred.dtype.type(2)), axis=-1)


def kl_divergence(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    eps = y_pred.dtype.type(EPSILON)
    y_true, y_pred = np.clip(y_true, eps, 1), np.clip(y_pred, eps, 1)
    return np.sum(y_true * np.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(y_pred - y_true * np.log(y_pred + y_pred.dtype.type(EPSILON)), axis=-1)


def _hinge_labels(y_true):
    """Keras's convert_binary_labels_to_hinge: labels all 0 or 1 become -1 or 1."""
    return 2 * y_true - 1 if np.all((y_true == 0) | (y_true == 1)) else y_true


def hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(np.maximum(1 - _hinge_labels(y_true) * y_pred, 0), axis=-1)


def squared_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    return np.mean(np.square(np.maximum(1 - _hinge_labels(y_true) * y_pred, 0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    pos = np.sum(y_true * y_pred, axis=-1)
    neg = np.max((1 - y_true) * y_pred, axis=-1)
    return np.maximum(neg - pos + 1, 0)


def _normalize(v):
    """Keras's normalize: v * min(1 / |v|, 1 / eps) over the last axis."""
    with np.errstate(divide="ignore"):
        inv = 1 / np.sqrt(np.sum(np.square(v), axis=-1, keepdims=True))
    return v * np.minimum(inv, v.dtype.type(1 / EPSILON))


def cosine_similarity(y_true, y_pred, axis=-1):
    if axis != -1:
        raise ValueError(f"cosine_similarity: only axis=-1 is supported by kcc. Received: "
                         f"axis={axis!r}")
    y_true, y_pred = _pair(y_true, y_pred)
    return -np.sum(_normalize(y_true) * _normalize(y_pred), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence

_REFERENCES = {f.__name__: f for f in (
    categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
    mean_squared_logarithmic_error, huber, log_cosh, kl_divergence, poisson, hinge,
    squared_hinge, categorical_hinge, cosine_similarity)}
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
        self.delta = 1.0

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


class MeanAbsolutePercentageError(Loss):
    canonical = "mean_absolute_percentage_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error"):
        super().__init__(name, reduction)


class MeanSquaredLogarithmicError(Loss):
    canonical = "mean_squared_logarithmic_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error"):
        super().__init__(name, reduction)


class Huber(Loss):
    """0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2; delta is compiled in."""
    canonical = "huber"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating)) \
                or not np.isfinite(delta) or delta < 0:
            raise ValueError(f"Huber: `delta` must be a non-negative number. Received: "
                             f"delta={delta!r}")
        super().__init__(name, reduction)
        self.delta = float(delta)

    def __call__(self, y_true, y_pred):
        return np.mean(huber(y_true, y_pred, self.delta))

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class LogCosh(Loss):
    canonical = "log_cosh"

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh"):
        super().__init__(name, reduction)


class KLDivergence(Loss):
    canonical = "kl_divergence"

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(name, reduction)


class Poisson(Loss):
    canonical = "poisson"

    def __init__(self, reduction="sum_over_batch_size", name="poisson"):
        super().__init__(name, reduction)


class Hinge(Loss):
    canonical = "hinge"

    def __init__(self, reduction="sum_over_batch_size", name="hinge"):
        super().__init__(name, reduction)


class SquaredHinge(Loss):
    canonical = "squared_hinge"

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge"):
        super().__init__(name, reduction)


class CategoricalHinge(Loss):
    canonical = "categorical_hinge"

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge"):
        super().__init__(name, reduction)


class CosineSimilarity(Loss):
    canonical = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        _check_axis(self, axis)
        super().__init__(name, reduction)

    def get_config(self):
        return {**super().get_config(), "axis": -1}


def _check_axis(loss, axis):
    if axis != -1:
        raise ValueError(f"{type(loss).__name__}: only axis=-1 is supported. Received: axis={axis!r}")


_CLASSES = (CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
            MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
            MeanSquaredLogarithmicError, Huber, LogCosh, KLDivergence, Poisson, Hinge,
            SquaredHinge, CategoricalHinge, CosineSimilarity)
# Keras 3's aliases (bce, kld, mape, msle) and Keras 2's (logcosh, kullback_leibler_divergence)
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
            "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
            "kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence",
            "logcosh": "log_cosh", "bce": "binary_crossentropy"}
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
                     f"(aliases: {', '.join(sorted(a for a in _ALIASES if len(a) < 5))})")


def smoothing(identifier):
    """The label_smoothing of a loss identifier: a Loss instance's own, else 0."""
    return identifier.label_smoothing if isinstance(identifier, Loss) else 0.0


def delta(identifier):
    """Huber's delta of a loss identifier: a Huber instance's own, else 1."""
    return identifier.delta if isinstance(identifier, Huber) else 1.0


def with_delta(kind, value):
    """A loss identifier for ``kind`` with Huber's ``delta``: the kind itself at 1 (how a
    saved config rebuilds it)."""
    if value == 1.0:
        return kind
    if kind != "huber":
        raise ValueError(f"Loss {kind!r} takes no delta (only 'huber' does). Received: "
                         f"delta={value!r}")
    return Huber(delta=value)


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
    kwargs = {"label_smoothing": ls} if ls else {"delta": loss.delta} if isinstance(loss, Huber) else {}
    return _REFERENCES[get(loss)](y_true, y_pred, **kwargs)


HINGES = ("hinge", "squared_hinge")      # read 0/1 labels as -1/1


def check_hinge_targets(y, loss, output_name):
    """Refuse targets whose hinge labels kcc would read otherwise than Keras. Keras turns
    0/1 labels into -1/1 when a whole batch holds only 0s and 1s; kcc's row functions decide
    per row of the last axis, which agrees unless a row of 0s and 1s with a 0 in it shares
    the data with rows of other values (Keras's result would then depend on the batching)."""
    rows = np.asarray(y, np.float32).reshape(-1, y.shape[-1] if y.ndim > 1 else 1)
    binary = np.all((rows == 0) | (rows == 1), axis=-1)
    if binary.all() or not np.any(binary & np.any(rows == 0, axis=-1)):
        return
    raise ValueError(f"Targets for output '{output_name}' with {loss!r} mix rows of 0/1 "
                     f"labels with other values. Keras converts 0/1 labels to -1/1 only in "
                     f"batches that hold nothing else, so the result would depend on the "
                     f"batching; kcc refuses it. Use labels in {{-1, 1}}, or all 0/1")


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
