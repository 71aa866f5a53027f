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

EPSILON = 1e-7       # keras.backend.epsilon(): the norm constraints divide by eps + norm


class Constraint:
    """Base class; the identity. kcc compiles the four subclasses below."""

    def __call__(self, w):
        return w

    def lowered(self, shape, where):
        """The plain data the generated code needs (kcc.graph.ir.WeightSlot.constraint)."""
        return None

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__


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

_CLASSES = {cls.__name__: cls for cls in (MaxNorm, MinMaxNorm, UnitNorm, NonNeg)}
_BY_NAME = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "unit_norm": UnitNorm,
            "non_neg": NonNeg, "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm}


def _from_name(name):
    cls = _BY_NAME.get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Could not interpret constraint identifier: {name!r}. Valid names "
                         f"are: {', '.join(sorted(set(_BY_NAME) | set(_CLASSES)))}.")
    return cls


def get(identifier):
    """A Constraint from None, a name ('max_norm', 'MaxNorm', ...), a class, an instance or
    a config dict. Any other callable is returned as it is: a layer given one refuses it."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        return _from_name(identifier)()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return _from_name(identifier["class_name"])(**identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret constraint identifier: {identifier!r}")


def serialize(constraint):
    """Keras 3's form: {'module': 'keras.constraints', 'class_name': ..., 'config': ...}."""
    if constraint is None:
        return None
    constraint = get(constraint)
    return {"module": "keras.constraints", "class_name": type(constraint).__name__,
            "config": constraint.get_config(), "registered_name": None}


deserialize = get


def for_layer(identifier, layer, argument):
    """The Constraint a layer argument names, or an error naming the layer and argument."""
    c = get(identifier)
    if c is not None and type(c) not in (Constraint, *_CLASSES.values()):
        what = (f"{type(c).__name__} (a Constraint subclass)" if isinstance(c, Constraint)
                else f"{c!r} (a Python function)")
        raise NotImplementedError(
            f"Layer {layer}: `{argument}` is {what}, which kcc does not compile; it compiles "
            f"{', '.join(sorted(_CLASSES))} (e.g. kcc.constraints.MaxNorm(2)).")
    return c
