"""Metrics: names compile() accepts, how 'accuracy' resolves, numpy references.

Canonical metrics (compiled into native code, reported as running means over an epoch):

    categorical_accuracy, sparse_categorical_accuracy, binary_accuracy,
    mean_squared_error (mse), mean_absolute_error (mae),
    mean_absolute_percentage_error (mape), mean_squared_logarithmic_error (msle),
    log_cosh (LogCoshError, Keras 2's logcosh), kl_divergence (Keras 2's kld), poisson,
    hinge, squared_hinge, categorical_hinge, cosine_similarity (the similarity, not the
    loss's negative), binary_crossentropy (bce), categorical_crossentropy,
    sparse_categorical_crossentropy, huber (the function only, as in Keras 3),
    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy (k=5; ``k`` is compiled
    in, the canonical name then reads ``<name>:<k>``)

and three that are not means of per-sample values, as Keras 3's streaming metrics:
root_mean_squared_error (the square root of the epoch's mean squared error), precision
(true positives / predicted positives) and recall (true positives / actual positives),
at the threshold 0.5 (predictions above it count as positive; targets other than 0 do),
over every value of the epoch, 0 where nothing was predicted (or is) positive. A ratio
accumulates its numerator and its denominator (``DENOMINATOR``) as two stats.

'accuracy' / 'acc' resolve from the loss, as Keras 1 does: an output whose last
dimension is 1, or a binary_crossentropy loss, gives binary_accuracy;
sparse_categorical_crossentropy gives sparse_categorical_accuracy; anything else
categorical_accuracy. Logs show a metric given as a string as the user wrote it ('acc',
'mse', as Keras 2 and 3 do: EarlyStopping(monitor='val_mse') then finds it), a metric
object under its ``name``, a function under its canonical name.
"""

import numpy as np

from kcc import losses as _losses

CANONICAL = ("categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy",
             "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
             "mean_squared_logarithmic_error", "log_cosh", "kl_divergence", "poisson", "hinge",
             "squared_hinge", "categorical_hinge", "cosine_similarity", "binary_crossentropy",
             "categorical_crossentropy", "sparse_categorical_crossentropy", "huber",
             "root_mean_squared_error", "top_k_categorical_accuracy",
             "sparse_top_k_categorical_accuracy", "precision", "recall")
_ACCURACY = ("accuracy", "acc")
SPARSE = ("sparse_categorical_accuracy", "sparse_categorical_crossentropy",
          "sparse_top_k_categorical_accuracy")
RATIOS = ("precision", "recall")       # numerator stat / DENOMINATOR stat
ROOTS = ("root_mean_squared_error",)   # the square root of the epoch's mean
TOP_K = ("top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy")
UP = ("categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy",
      "cosine_similarity", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
      "precision", "recall")            # Keras 3's metrics with _direction 'up'
DENOMINATOR = "_denominator"           # kcc::metric::<ratio><DENOMINATOR> in kcc/ops/losses.h


def base_name(canonical):
    """'top_k_categorical_accuracy:3' -> 'top_k_categorical_accuracy' (a name is its own)."""
    return canonical.partition(":")[0]


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_true) == argmax(y_pred) (first maximum wins), per sample."""
    y_pred = np.asarray(y_pred)
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label == argmax(y_pred); labels (n,) or (n, 1); result (n,)."""
    y_pred = np.asarray(y_pred)
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    return (labels.astype(np.int64) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Mean over the last axis of (y_pred > threshold) == y_true, per sample."""
    y_pred = np.asarray(y_pred, dtype=np.float32)
    y_true, y_pred = _losses.same_rank(np.asarray(y_true, dtype=np.float32), y_pred)
    hits = (y_true == (y_pred > threshold).astype(np.float32)).astype(np.float32)
    return np.mean(hits, axis=-1)


def _in_top_k(scores, labels, k):
    """Keras 3's in_top_k on torch: the label's score is at least the k-th largest (ties
    count), i.e. fewer than k scores are above it; every label is in when k >= classes."""
    scores = np.asarray(scores, np.float32)
    mine = np.take_along_axis(scores, labels[..., None].astype(np.int64), axis=-1)
    return (np.sum(scores > mine, axis=-1) < k).astype(np.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _in_top_k(y_pred, np.argmax(y_true, axis=-1), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    labels = np.asarray(y_true)
    if labels.ndim == np.ndim(y_pred) and labels.shape[-1] == 1:
        labels = labels[..., 0]
    return _in_top_k(y_pred, labels, k)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Keras 3's metric: the similarity itself (the loss is its negative)."""
    return -_losses.cosine_similarity(y_true, y_pred, axis)


mean_squared_error = mse = MSE = _losses.mean_squared_error
mean_absolute_error = mae = MAE = _losses.mean_absolute_error
mean_absolute_percentage_error = mape = MAPE = _losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = msle = MSLE = _losses.mean_squared_logarithmic_error
log_cosh, kl_divergence, poisson = _losses.log_cosh, _losses.kl_divergence, _losses.poisson
hinge, squared_hinge, huber = _losses.hinge, _losses.squared_hinge, _losses.huber
categorical_hinge = _losses.categorical_hinge
binary_crossentropy = _losses.binary_crossentropy
categorical_crossentropy = _losses.categorical_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy

_REFERENCES = {f.__name__: f for f in (
    categorical_accuracy, sparse_categorical_accuracy, binary_accuracy, mean_squared_error,
    mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error,
    log_cosh, kl_divergence, poisson, hinge, squared_hinge, categorical_hinge,
    cosine_similarity, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, huber, top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy)}


class Metric:
    """Keras-style metric object; kcc compiles it by ``canonical`` name."""

    canonical = None

    def __init__(self, name=None, dtype=None):
        if dtype not in (None, "float32"):
            raise ValueError(f"{type(self).__name__}: only dtype='float32' is supported. "
                             f"Received: dtype={dtype!r}")
        self.name = name or self.canonical

    def get_config(self):
        return {"name": self.name}


class CategoricalAccuracy(Metric):
    canonical = "categorical_accuracy"


class SparseCategoricalAccuracy(Metric):
    canonical = "sparse_categorical_accuracy"


class BinaryAccuracy(Metric):
    canonical = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        if threshold != 0.5:
            raise ValueError(f"BinaryAccuracy: only threshold=0.5 is supported by kcc yet. "
                             f"Received: threshold={threshold!r}")
        super().__init__(name, dtype)


class MeanSquaredError(Metric):
    canonical = "mean_squared_error"


class MeanAbsoluteError(Metric):
    canonical = "mean_absolute_error"


class MeanAbsolutePercentageError(Metric):
    canonical = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(Metric):
    canonical = "mean_squared_logarithmic_error"


class RootMeanSquaredError(Metric):
    canonical = "root_mean_squared_error"


class LogCoshError(Metric):
    canonical = "log_cosh"

    def __init__(self, name="logcosh", dtype=None):     # Keras 3's default name
        super().__init__(name, dtype)


class KLDivergence(Metric):
    canonical = "kl_divergence"


class Poisson(Metric):
    canonical = "poisson"


class Hinge(Metric):
    canonical = "hinge"


class SquaredHinge(Metric):
    canonical = "squared_hinge"


class CategoricalHinge(Metric):
    canonical = "categorical_hinge"


class CosineSimilarity(Metric):
    canonical = "cosine_similarity"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        if axis != -1:
            raise ValueError(f"CosineSimilarity: only axis=-1 is supported. Received: "
                             f"axis={axis!r}")
        super().__init__(name, dtype)


class _Crossentropy(Metric):
    """The crossentropy metrics, at their defaults (from_logits=False, no smoothing)."""

    def __init__(self, name=None, dtype=None, from_logits=False, label_smoothing=0.0, **kwargs):
        owner = type(self).__name__
        if from_logits or label_smoothing or any(v not in (None, -1) for v in kwargs.values()):
            given = {"from_logits": from_logits, "label_smoothing": label_smoothing, **kwargs}
            raise ValueError(f"{owner}: kcc computes this metric at its defaults only "
                             f"(from_logits=False, label_smoothing=0). Received: {given}")
        super().__init__(name, dtype)


class BinaryCrossentropy(_Crossentropy):
    canonical = "binary_crossentropy"


class CategoricalCrossentropy(_Crossentropy):
    canonical = "categorical_crossentropy"


class SparseCategoricalCrossentropy(_Crossentropy):
    canonical = "sparse_categorical_crossentropy"

    def __init__(self, name=None, dtype=None, from_logits=False, axis=-1):
        super().__init__(name, dtype, from_logits, axis=axis)


class TopKCategoricalAccuracy(Metric):
    base = "top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"{type(self).__name__}: `k` must be a positive integer. "
                             f"Received: k={k!r}")
        self.k = int(k)
        self.canonical = self.base if k == 5 else f"{self.base}:{self.k}"
        super().__init__(name or self.base, dtype)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    base = "sparse_top_k_categorical_accuracy"

    def __init__(self, k=5, name=None, dtype=None, from_sorted_ids=False):
        if from_sorted_ids:
            raise ValueError("SparseTopKCategoricalAccuracy: `from_sorted_ids=True` is not "
                             "supported by kcc. Received: from_sorted_ids=True")
        super().__init__(k, name, dtype)


_AUTO_NAMES = {}      # Keras 3's auto_name: base -> instances named so far this session


def auto_name(base):
    """'precision', then 'precision_1', 'precision_2', ... (reset by clear_session), as Keras
    3 names a metric created without a name whose class has no default one."""
    count = _AUTO_NAMES.get(base, 0)
    _AUTO_NAMES[base] = count + 1
    return f"{base}_{count}" if count else base


class _Confusion(Metric):
    """Precision and Recall at one threshold, for every class at once (Keras 3's defaults).
    Unnamed, they take Keras's session-unique names (auto_name)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        owner = type(self).__name__
        if thresholds not in (None, 0.5) or top_k is not None or class_id is not None:
            raise ValueError(f"{owner}: kcc supports the default threshold 0.5 only, without "
                             f"top_k or class_id. Received: thresholds={thresholds!r}, "
                             f"top_k={top_k!r}, class_id={class_id!r}")
        super().__init__(name or auto_name(self.canonical), dtype)


class Precision(_Confusion):
    canonical = "precision"


class Recall(_Confusion):
    canonical = "recall"


_CLASSES = (CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy, MeanSquaredError,
            MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
            RootMeanSquaredError, LogCoshError, KLDivergence, Poisson, Hinge, SquaredHinge,
            CategoricalHinge, CosineSimilarity, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy, Precision, Recall)
_TOP_K_CLASSES = (TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy)
# Keras 3's string names: the classes' and their snake_case, mse / mae / mape / msle / bce;
# and Keras 2's logcosh, kld, kullback_leibler_divergence
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
            "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
            "bce": "binary_crossentropy", "logcosh": "log_cosh", "log_cosh_error": "log_cosh",
            "kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence"}
_ALIASES.update({name: name for name in CANONICAL if name != "huber"})   # a function only
_ALIASES.update({cls.__name__.lower(): cls.canonical for cls in _CLASSES})
_ALIASES.update({cls.__name__.lower(): cls.base for cls in _TOP_K_CLASSES})


def accuracy_for(loss_name, output_shape):
    """What 'accuracy' means for an output trained with ``loss_name`` (Keras 1's rule)."""
    shape = tuple(output_shape)
    loss_name = _losses.base(_losses.get(loss_name)) if loss_name is not None else None
    if (shape and shape[-1] == 1) or loss_name == "binary_crossentropy":
        return "binary_accuracy"
    if loss_name == "sparse_categorical_crossentropy":
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


def resolve(metric, loss_name, output_shape):
    """Canonical metric name for any identifier compile() accepts."""
    if isinstance(metric, str) and metric.lower() in _ACCURACY:
        return accuracy_for(loss_name, output_shape)
    if isinstance(metric, type) and issubclass(metric, TopKCategoricalAccuracy):
        return metric.base
    if isinstance(metric, Metric) or (isinstance(metric, type) and issubclass(metric, Metric)):
        if metric.canonical:
            return metric.canonical
    elif isinstance(metric, str):
        name = _ALIASES.get(metric.lower())
        if name:
            return name
    elif callable(metric) and _REFERENCES.get(getattr(metric, "__name__", None)) is metric:
        return metric.__name__
    what = getattr(metric, "__name__", None) or repr(metric)
    hint = (" (kcc compiles metrics to native code, so custom metric functions are not "
            "supported)" if callable(metric) else "")
    raise ValueError(f"Unknown metric: {what}{hint}. Valid names: "
                     f"{['accuracy', 'acc'] + [c for c in CANONICAL if c != 'huber']} "
                     f"(aliases: {', '.join(sorted(a for a in _ALIASES if len(a) < 5))})")


def display_name(metric, canonical):
    """The name shown in logs and History: a string as the user wrote it, a metric object's
    ``name``, else the canonical name."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, Metric):
        return metric.name
    return canonical


def identifier(display, canonical):
    """What to pass to compile() to get back the metric logged as `display` (the inverse of
    display_name): a name that resolves to `canonical` as such, else a metric object."""
    name, _, k = canonical.partition(":") if isinstance(canonical, str) else ("", "", "")
    if not isinstance(display, str) or name not in CANONICAL or (k and not (
            name in TOP_K and k.isdigit() and int(k) > 0)):
        raise ValueError(f"Unknown metric: {canonical!r} (shown as {display!r}). Valid names: "
                         f"{list(CANONICAL)}")
    if display.lower() in _ACCURACY or _ALIASES.get(display.lower()) == canonical:
        return display
    if name == "huber":
        return huber            # logged under its function's name
    if name in TOP_K:
        cls = next(c for c in _TOP_K_CLASSES if c.base == name)
        return cls(k=int(k) if k else 5, name=display)
    cls = next(c for c in _CLASSES if c.canonical == canonical)
    return cls(name=display)


def target_kind(canonical):
    """'sparse' (integer labels) or 'dense' (same shape as the output)."""
    return "sparse" if base_name(canonical) in SPARSE else "dense"


def reference(metric, y_true, y_pred, loss_name=None):
    """Per-sample metric values in numpy (the epoch value is their mean); for the streaming
    metrics (ROOTS, RATIOS), ``epoch_value`` of all the epoch's values instead."""
    canonical = resolve(metric, loss_name, np.shape(y_pred)[1:])
    name, _, k = canonical.partition(":")
    if name in ROOTS + RATIOS:
        raise ValueError(f"{name} is not a mean of per-sample values: use epoch_value")
    return _REFERENCES[name](y_true, y_pred, **({"k": int(k)} if k else {}))


def epoch_value(metric, y_true, y_pred, loss_name=None, sample_weight=None):
    """The epoch's value of any metric, in numpy, as Keras 3 reports it (weighted by
    ``sample_weight`` as a weighted metric is)."""
    canonical = resolve(metric, loss_name, np.shape(y_pred)[1:])
    y_pred = np.asarray(y_pred, np.float64)
    n = len(y_pred)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if canonical in RATIOS:
        y_true = np.asarray(y_true, np.float64).reshape(y_pred.shape)
        ww = w.reshape((n,) + (1,) * (y_pred.ndim - 1))
        positive, actual = y_pred > 0.5, y_true != 0
        tp = np.sum(ww * (positive & actual))
        den = np.sum(ww * (positive if canonical == "precision" else actual))
        return tp / den if den else 0.0
    if canonical in ROOTS:
        per = mean_squared_error(y_true, y_pred)
    else:
        per = reference(metric, y_true, y_pred, loss_name)
    per = per.reshape(n, -1).mean(axis=-1)
    value = np.sum(w * per) / np.sum(w)
    return np.sqrt(value) if canonical in ROOTS else value
