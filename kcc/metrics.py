"""Metrics: names compile() accepts, how 'accuracy' resolves, numpy references.

Canonical metrics (compiled into native code, reported as running means over an epoch):

    categorical_accuracy, sparse_categorical_accuracy, binary_accuracy,
    mean_squared_error (mse), mean_absolute_error (mae)

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
             "mean_squared_error", "mean_absolute_error")
_ACCURACY = ("accuracy", "acc")


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


mean_squared_error = mse = MSE = _losses.mean_squared_error
mean_absolute_error = mae = MAE = _losses.mean_absolute_error

_REFERENCES = {"categorical_accuracy": categorical_accuracy,
               "sparse_categorical_accuracy": sparse_categorical_accuracy,
               "binary_accuracy": binary_accuracy,
               "mean_squared_error": mean_squared_error,
               "mean_absolute_error": mean_absolute_error}


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


_CLASSES = (CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy, MeanSquaredError,
            MeanAbsoluteError)
_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}
_ALIASES.update({name: name for name in CANONICAL})
_ALIASES.update({cls.__name__.lower(): cls.canonical for cls in _CLASSES})


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
                     f"{['accuracy', 'acc'] + list(CANONICAL)} (aliases: mse, mae)")


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
    if not isinstance(display, str) or canonical not in CANONICAL:
        raise ValueError(f"Unknown metric: {canonical!r} (shown as {display!r}). Valid names: "
                         f"{list(CANONICAL)}")
    if display.lower() in _ACCURACY or _ALIASES.get(display.lower()) == canonical:
        return display
    cls = next(c for c in _CLASSES if c.canonical == canonical)
    return cls(name=display)


def target_kind(canonical):
    """'sparse' (integer labels) or 'dense' (same shape as the output)."""
    return "sparse" if canonical == "sparse_categorical_accuracy" else "dense"


def reference(metric, y_true, y_pred, loss_name=None):
    """Per-sample metric values in numpy (the epoch value is their mean)."""
    canonical = resolve(metric, loss_name, np.shape(y_pred)[1:])
    return _REFERENCES[canonical](y_true, y_pred)
