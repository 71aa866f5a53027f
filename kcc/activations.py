"""Activations kcc compiles, by name, each with a numpy reference (Keras 3 formulas).

Layers store the canonical name; the generated code implements each name once
(csrc/include/kcc/ops), and tests compare it with the reference functions below.
"""
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


def softplus(x):
    return np.logaddexp(0, x)


def elu(x):
    x = np.asarray(x)
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))   # alpha = 1


_REGISTRY = {f.__name__: f for f in (linear, relu, sigmoid, hard_sigmoid, tanh, softmax,
                                     softplus, elu)}
NAMES = tuple(_REGISTRY)


def get(identifier):
    """Canonical name of an activation: None -> 'linear', a name, or a function of this module."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return identifier
    for name, fn in _REGISTRY.items():
        if identifier is fn:
            return name
    what = repr(identifier) if isinstance(identifier, str) else f"{identifier!r} (not a kcc activation)"
    raise ValueError(f"Unknown activation: {what}. kcc compiles activations by name; "
                     f"valid names are: {', '.join(NAMES)}.")


def reference(name):
    """The numpy function for an activation name (or identifier accepted by get())."""
    return _REGISTRY[get(name)]


def serialize(identifier):
    return get(identifier)


def deserialize(name):
    return reference(name)
