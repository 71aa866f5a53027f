"""Weight regularizers, as Keras 3 has them: L1, L2, L1L2 (and their lowercase aliases).

A regularizer adds a penalty on a weight to the training loss: `l1 * sum(|w|) + l2 * sum(w^2)`.
kcc compiles it: the generated train step adds the penalty of every regularized trainable
weight (before the update) to the loss it reports, and its gradient `l1 sign(w) + 2 l2 w`
to the weight's gradient; evaluate adds the penalty of the current weights, as Keras does.
Calling a regularizer on an array gives the penalty in numpy (the tests' reference).

OrthogonalRegularizer is known by name (so a Keras config naming it gets a clear error)
but not compiled; a Python function as a regularizer cannot run in native code either.
"""
import math
import numbers

import numpy as np

from kcc.keras_object import Catalog, KerasObject


def _factor(value, name):
    """A non-negative finite float, or Keras's ValueError."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or math.isinf(value) or math.isnan(value) or value < 0):
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


class Regularizer(KerasObject):
    """Base class. kcc compiles the L1L2 family only (`terms()` gives its two factors)."""

    def __call__(self, x):
        return 0.0

    def terms(self):
        """(l1, l2): what the generated code needs. None when kcc cannot compile it."""
        return None

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")


class L1L2(Regularizer):
    """`l1 * sum(|x|) + l2 * sum(x^2)`; both factors default to 0, as in Keras 3."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float32)
        return float(self.l1 * np.abs(x).sum(dtype=np.float64)
                     + self.l2 * np.square(x).sum(dtype=np.float64))

    def terms(self):
        return (self.l1, self.l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """`l1 * sum(|x|)`; l1 defaults to 0.01."""

    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """`l2 * sum(x^2)`; l2 defaults to 0.01."""

    def __init__(self, l2=0.01):
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Keras's penalty on the pairwise dot products of a kernel's normalized rows/columns.
    Known so that configs read; a layer given one refuses it (not compiled by kcc yet)."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor")
        if mode not in ("rows", "columns"):
            raise ValueError('Invalid value for argument `mode`. Expected one of '
                             f'{{"rows", "columns"}}. Received: mode={mode!r}')
        self.mode = mode

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def l1_l2(l1=0.01, l2=0.01):
    """Keras 2's helper: L1L2 with both factors 0.01 by default (the string 'l1_l2' too)."""
    return L1L2(l1=l1, l2=l2)


# Keras 3's lowercase names of the classes (keras.regularizers.l1(0.01) is L1(0.01))
l1, l2, orthogonal_regularizer = L1, L2, OrthogonalRegularizer

_CATALOG = Catalog(
    "regularizer", Regularizer,
    {**{cls.__name__: cls for cls in (L1, L2, L1L2, OrthogonalRegularizer)}, "l1": L1, "l2": L2,
     "l1_l2": l1_l2, "l1l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer},
    compiles=(L1, L2, L1L2),
    hint="L1, L2 and L1L2 (kcc.regularizers.l2(0.01), 'l1', L1L2(l1=..., l2=...))")
get, serialize, for_layer = _CATALOG.get, _CATALOG.serialize, _CATALOG.for_layer
deserialize = get
