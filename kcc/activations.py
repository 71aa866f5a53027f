"""Activations kcc compiles, by name, each with a numpy reference (Keras 3 formulas).

Layers store the canonical name; the generated code implements each name once
(csrc/include/kcc/ops), and tests compare it with the reference functions below.
"""
import functools
import math

import numpy as np


def linear(x):
    return np.asarray(x)


def relu(x):
    return np.maximum(x, 0)


def sigmoid(x):
    # exp(-logaddexp(0, -x)) = 1 / (1 + exp(-x)) without overflow for large |x|
    return np.exp(-np.logaddexp(0, -np.asarray(x)))


def hard_sigmoid(x):
    return np.clip((np.asarray(x) + 3) / 6, 0, 1)   # relu6(x + 3) / 6


def tanh(x):
    return np.tanh(x)


def softmax(x):
    """Over the last axis; subtracting the max keeps exp() from overflowing."""
    x = np.asarray(x)
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(x):
    """Over the last axis, as Keras 3's log_softmax(x, axis=-1): x - max - log(sum(exp(x - max))),
    exact however far an entry lies below its row's max."""
    x = np.asarray(x)
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def softplus(x):
    return np.logaddexp(0, x)


def elu(x):
    x = np.asarray(x)
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))   # alpha = 1


def celu(x):
    return elu(x)                                   # alpha = 1: the same function


def relu6(x):
    return np.clip(x, 0, 6)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def selu(x):
    x = np.asarray(x)
    return _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))


def softsign(x):
    return np.asarray(x) / (1 + np.abs(x))


def exponential(x):
    return np.exp(x)


def leaky_relu(x):
    x = np.asarray(x)
    return np.where(x < 0, 0.2 * x, x)              # negative_slope = 0.2, as Keras 3


def hard_tanh(x):
    return np.clip(x, -1, 1)


def log_sigmoid(x):
    return -np.logaddexp(0, -np.asarray(x))


def sparse_plus(x):
    x = np.asarray(x)
    return np.where(x <= -1, 0.0, np.where(x >= 1, x, 0.25 * (x + 1) ** 2))


def squareplus(x):
    x = np.asarray(x)
    return (x + np.sqrt(x * x + 4)) / 2             # b = 4, as Keras 3


def sparse_sigmoid(x):
    return np.clip((np.asarray(x) + 1) / 2, 0, 1)


def soft_shrink(x):
    x = np.asarray(x)
    return np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0))   # threshold = 0.5


def hard_shrink(x):
    x = np.asarray(x)
    return np.where(np.abs(x) > 0.5, x, 0.0)


def _erf(x):
    return np.vectorize(math.erf, otypes=[float])(np.asarray(x, dtype=np.float64))


def gelu(x, approximate=False):
    """Keras 3's gelu: x Phi(x) (erf form) by default; approximate=True is the tanh form.
    `functools.partial(kcc.activations.gelu, approximate=True)` (or the name
    'gelu_approximate') selects the tanh form as a layer's activation."""
    x = np.asarray(x)
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def gelu_approximate(x):
    return gelu(x, approximate=True)


def silu(x):
    return np.asarray(x) * sigmoid(x)


swish = silu


def mish(x):
    return np.asarray(x) * np.tanh(softplus(x))


def hard_silu(x):
    return np.asarray(x) * hard_sigmoid(x)


hard_swish = hard_silu


def tanh_shrink(x):
    return np.asarray(x) - np.tanh(x)


_REGISTRY = {f.__name__: f for f in (
    linear, relu, sigmoid, hard_sigmoid, tanh, softmax, log_softmax, softplus, elu, celu, relu6, selu,
    softsign, exponential, leaky_relu, hard_tanh, log_sigmoid, sparse_plus, squareplus,
    sparse_sigmoid, soft_shrink, hard_shrink, gelu, gelu_approximate, silu, mish, hard_silu,
    tanh_shrink)}
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}   # Keras's second names: one function
NAMES = tuple(_REGISTRY) + tuple(_ALIASES)
# Element-wise activations whose derivative needs their input x, not only their output y
# (kcc/ops/activations.h's dfx): the layer keeps the pre-activation for the backward.
FROM_INPUT = frozenset({"gelu", "gelu_approximate", "silu", "mish", "hard_silu", "tanh_shrink"})
# Row operations (over the last axis), not element-wise: kcc/ops/activations.h's
# <name>_row / <name>_row_backward, whose backward reads the output.
ROW = frozenset({"softmax", "log_softmax"})
# Element-wise activations whose derivative their output determines: what a recurrent
# cell can run (its backward keeps only the gates' outputs).
FROM_OUTPUT = tuple(n for n in _REGISTRY if n not in FROM_INPUT and n not in ROW)
# Keras activations kcc does not compile yet: sparsemax, glu (halves the last axis), and
# threshold (parameters without a default).
_NOT_COMPILED = ("sparsemax", "glu", "threshold")


def get(identifier, where=None):
    """Canonical name of an activation: None -> 'linear', a name, or a function of this module.

    `where` ('Layer dense_1: `activation`') says which argument of which layer a bad
    identifier came from."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return identifier
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]
    for name, fn in _REGISTRY.items():
        if identifier is fn:
            return name
    if (isinstance(identifier, functools.partial) and identifier.func is gelu
            and not identifier.args and set(identifier.keywords) <= {"approximate"}):
        return "gelu_approximate" if identifier.keywords.get("approximate") else "gelu"
    prefix = f"{where}: " if where else ""
    valid = f"kcc compiles activations by name; valid names are: {', '.join(NAMES)}."
    if isinstance(identifier, str) and identifier in _NOT_COMPILED:
        raise ValueError(f"{prefix}Keras's activation {identifier!r} is not supported by kcc "
                         f"yet. {valid}")
    what = repr(identifier) if isinstance(identifier, str) else f"{identifier!r} (not a kcc activation)"
    raise ValueError(f"{prefix}Unknown activation: {what}. {valid}")


def reference(name):
    """The numpy function for an activation name (or identifier accepted by get())."""
    return _REGISTRY[get(name)]


def serialize(identifier):
    return get(identifier)


def deserialize(name):
    return reference(name)
