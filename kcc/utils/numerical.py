"""Numpy helpers Keras users expect under keras.utils."""
import numpy as np


def to_categorical(y, num_classes=None, dtype="float32"):
    """Class ids -> one-hot rows (Keras's to_categorical; a trailing axis of 1 is dropped)."""
    y = np.asarray(y)
    if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        raise ValueError(f"to_categorical expects integer class ids; received dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: class ids must lie in [0, {num_classes}); received ids "
                         f"from {int(y.min())} to {int(y.max())}")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out
