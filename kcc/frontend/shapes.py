"""Validating and printing static shapes. Only the batch axis may be unknown (None)."""
import numbers
from math import prod


def _is_dim(d):
    return isinstance(d, numbers.Integral) and not isinstance(d, bool)


def standardize_shape(shape, what="shape", batch=False):
    """A tuple of positive ints; with `batch=True` the first entry may also be None.

    `what` names the argument in the error, e.g. "shape" for Input(shape=...).
    """
    if _is_dim(shape):
        raise ValueError(f"Received an invalid value for `{what}`, expected a tuple of positive "
                         f"integers. Received: {what}={shape!r}. Did you mean {what}=({shape},)?")
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"Received an invalid value for `{what}`, expected a tuple of positive "
                         f"integers. Received: {what}={shape!r}") from None
    out = []
    for i, d in enumerate(dims):
        if batch and i == 0 and d is None:
            out.append(None)
        elif _is_dim(d) and d > 0:
            out.append(int(d))
        else:
            hint = (" kcc compiles static shapes: only the batch axis may be None."
                    if d is None else "")
            raise ValueError(f"Received an invalid value for `{what}`, expected a tuple of "
                             f"positive integers. Received: {what}={shape!r} "
                             f"(entry {i} is {d!r}).{hint}")
    return tuple(out)


def num_elements(shape):
    """Number of elements of a per-sample shape (no batch axis)."""
    return prod(shape)
