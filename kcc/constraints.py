"""Weight constraints, as Keras 3 has them: MaxNorm, MinMaxNorm, UnitNorm, NonNeg.

A constraint projects a weight after every optimizer update (Keras's optimizer does
`w.assign(constraint(w))` after applying the gradients). kcc compiles it into the update:
the C++ unit constrains a weight right after the thread that owns it updated it, the CUDA
unit launches one kernel per constrained weight after the fused update; the math is
kcc/ops/constraints.h. Calling a constraint on an array projects it in numpy (the tests'
reference, Keras's formulas).

The norm constraints reduce over `axis` (an int or a list of ints, Keras's meaning: for a
Dense kernel (input_dim, units), axis=0 bounds each unit's incoming weights). kcc views the
weight as (outer, reduce, inner) around the reduced axes, so those axes must be adjacent
(0, [0, 1, 2] for a Conv2D kernel, -1, ...); other sets are refused by name.
"""
import math

import numpy as np

from kcc.keras_object import Catalog, KerasObject

EPSILON = 1e-7       # keras.backend.epsilon(): the norm constraints divide by eps + norm


class Constraint(KerasObject):
    """Base class; the identity. kcc compiles it and the four subclasses below."""

    def __call__(self, w):
        return w

    def lowered(self, shape, where):
        """The plain data the generated code needs (kcc.graph.ir.WeightSlot.constraint)."""
        return None


def _axes(axis, rank, where):
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int) or not -rank <= a < rank:
            raise ValueError(f"{where}: `axis` must be integers in [-{rank}, {rank}) for a "
                             f"weight of rank {rank}; received axis={axis!r}.")
        out.append(a % rank)
    return sorted(set(out))


def _blocks(shape, axis, where):
    """(outer, reduce, inner) element counts around the adjacent reduced axes."""
    rank = len(shape)
    if rank == 0:
        return 1, 1, 1
    axes = _axes(axis, rank, where)
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise NotImplementedError(
            f"{where}: kcc constrains norms over adjacent axes only (e.g. axis=0, "
            f"axis=[0, 1, 2]); received axis={axis!r} for a weight of shape {tuple(shape)}.")
    return (math.prod(shape[:axes[0]]), math.prod(shape[axes[0]:axes[-1] + 1]),
            math.prod(shape[axes[-1] + 1:]))


class MinMaxNorm(Constraint):
    """The norm over `axis` rescaled to `rate * clip(norm, min, max) + (1 - rate) * norm`."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def _bounds(self):
        return float(self.min_value), float(self.max_value), float(self.rate)

    def __call__(self, w):
        w = np.asarray(w, dtype=np.float32)
        axis = tuple(self.axis) if isinstance(self.axis, (list, tuple)) else self.axis
        norms = np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
        lo, hi, rate = self._bounds()
        desired = rate * np.clip(norms, lo, hi) + (1 - rate) * norms
        return (w * (desired / (EPSILON + norms))).astype(np.float32)

    def lowered(self, shape, where):
        lo, hi, rate = self._bounds()
        return ("norm",) + _blocks(shape, self.axis, where) + (lo, hi, rate)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class MaxNorm(MinMaxNorm):
    """Norms over `axis` clipped to at most `max_value` (Keras: `clip(norm, 0, max_value)`)."""

    def __init__(self, max_value=2, axis=0):
        super().__init__(0.0, max_value, 1.0, axis)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class UnitNorm(MinMaxNorm):
    """Norms over `axis` set to 1 (Keras: `w / (eps + norm)`)."""

    def __init__(self, axis=0):
        super().__init__(1.0, 1.0, 1.0, axis)

    def get_config(self):
        return {"axis": self.axis}


class NonNeg(Constraint):
    """`max(w, 0)`."""

    def __call__(self, w):
        return np.maximum(np.asarray(w, dtype=np.float32), 0)

    def lowered(self, shape, where):
        return ("non_neg",)


# Keras's lowercase names (keras.constraints.max_norm(2) is MaxNorm(2))
max_norm, min_max_norm, unit_norm, non_neg = MaxNorm, MinMaxNorm, UnitNorm, NonNeg
# Keras 1 names
maxnorm, nonneg, unitnorm = MaxNorm, NonNeg, UnitNorm

_COMPILED = (MaxNorm, MinMaxNorm, UnitNorm, NonNeg)
_CATALOG = Catalog(
    "constraint", Constraint,
    {**{cls.__name__: cls for cls in _COMPILED}, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm,
     "unit_norm": UnitNorm, "non_neg": NonNeg, "maxnorm": MaxNorm, "nonneg": NonNeg,
     "unitnorm": UnitNorm},
    compiles=(Constraint, *_COMPILED),
    hint=f"{', '.join(sorted(c.__name__ for c in _COMPILED))} (e.g. kcc.constraints.MaxNorm(2))")
get, serialize, for_layer = _CATALOG.get, _CATALOG.serialize, _CATALOG.for_layer
deserialize = get
