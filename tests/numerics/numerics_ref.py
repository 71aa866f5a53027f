"""Float64 numpy references for the numerics tests: weights, Dense forward and backward,
Keras losses and their gradients, finite differences, and tolerance-aware comparisons.

The references never call kcc's native code; `native_gradients` and `check_gradients`
(at the end) run a compiled model and compare it with them. Activations and losses come
from kcc.activations / kcc.losses (the documented Keras 3 formulas, dtype-generic),
evaluated here in float64.
"""
import numpy as np

from kcc import activations, losses

ACTIVATIONS = ("linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "softmax", "softplus", "elu")


# -- weights --------------------------------------------------------------------------------
def assign_normal(model, rng, std):
    """Give every weight `v` of `model` N(0, std^2) float32 values (`std` a number, or a
    function of the weight); return them as float64 by path."""
    params = {}
    for v in model.weights:
        value = rng.normal(0.0, std(v) if callable(std) else std, size=tuple(v.shape)).astype(np.float32)
        v.assign(value)
        params[v.path] = value.astype(np.float64)
    return params


def randomize(model, rng, scale=1.0):
    """Give every weight of `model` known float32 values; return them as float64 by path.

    Kernels are N(0, scale^2 / fan_in), so pre-activations are O(scale) and every
    activation works in its interesting range; biases are N(0, 0.1^2)."""
    return assign_normal(model, rng, lambda v: scale / np.sqrt(v.shape[0]) if len(v.shape) >= 2 else 0.1)


def weights_of(model):
    """The model's current weights, float64 copies, by path ('dense_1/kernel')."""
    return {v.path: v.numpy().astype(np.float64) for v in model.weights}


# -- layers ----------------------------------------------------------------------------------
def act(name, z):
    return activations.reference(name)(np.asarray(z, dtype=np.float64))


def act_backward(name, z, dy):
    """d loss / d z from d loss / d act(z), for pre-activation z."""
    if name == "linear":
        return dy
    if name == "relu":
        return dy * (z > 0)
    if name == "sigmoid":
        s = act("sigmoid", z)
        return dy * s * (1 - s)
    if name == "hard_sigmoid":
        return dy * ((z > -3) & (z < 3)) / 6.0
    if name == "tanh":
        return dy * (1 - np.tanh(z) ** 2)
    if name == "softplus":
        return dy * act("sigmoid", z)
    if name == "elu":
        return dy * np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))
    if name == "softmax":
        y = act("softmax", z)
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
    raise ValueError(name)


def dense(p, name, x, activation="linear", use_bias=True):
    """act(x W + b) on the last axis, in float64."""
    z = np.asarray(x, np.float64) @ p[f"{name}/kernel"]
    if use_bias:
        z = z + p[f"{name}/bias"]
    return act(activation, z)


class Tape:
    """A hand-written backprop for Dense chains: `dense` records each call, `backward`
    runs the calls in reverse and *adds* into the gradients, so a Dense used twice gets
    the sum of both uses and a tensor read twice gets both gradients (fan-out)."""

    def __init__(self, params):
        self.p = params
        self.calls = []                  # (name, activation, use_bias, x, z, y)

    def dense(self, name, x, activation="linear", use_bias=True):
        z = np.asarray(x, np.float64) @ self.p[f"{name}/kernel"]
        if use_bias:
            z = z + self.p[f"{name}/bias"]
        y = act(activation, z)
        self.calls.append((name, activation, use_bias, x, z, y))
        return y

    def backward(self, output_grads):
        """output_grads: {id(y): dL/dy} for the tensors the loss reads. Returns the weight
        gradients by path, and the per-call kernel contributions (for shared layers)."""
        grads = {k: np.zeros_like(v) for k, v in self.p.items()}
        pending = dict(output_grads)
        per_call = []
        for name, activation, use_bias, x, z, y in reversed(self.calls):
            dy = pending.pop(id(y), None)
            if dy is None:
                continue
            dz = act_backward(activation, z, dy)
            x2 = x.reshape(-1, x.shape[-1])
            dz2 = dz.reshape(-1, dz.shape[-1])
            contribution = x2.T @ dz2
            per_call.append((name, contribution))
            grads[f"{name}/kernel"] += contribution
            if use_bias:
                grads[f"{name}/bias"] += dz2.sum(axis=0)
            dx = dz @ self.p[f"{name}/kernel"].T
            pending[id(x)] = pending.get(id(x), 0.0) + dx
        return grads, per_call[::-1]


# -- losses ------------------------------------------------------------------------------------
def loss_value(kind, y_true, y_pred):
    """Mean over the batch of Keras's per-sample loss (float64)."""
    return float(np.mean(losses.reference(kind, y_true, np.asarray(y_pred, np.float64))))


def loss_grad(kind, y_true, y_pred):
    """d loss_value / d y_pred, analytically, as Keras differentiates it: no gradient flows
    through a probability that the 1e-7 clip held at its bound."""
    p = np.asarray(y_pred, np.float64)
    d = p.shape[-1]
    rows = p.size // d          # Keras averages over every axis but the last
    kind = losses.get(kind)
    if kind == "sparse_categorical_crossentropy":
        labels = np.asarray(y_true).reshape(-1)
        y_true, kind = np.eye(d)[labels], "categorical_crossentropy"
    y = np.asarray(y_true, np.float64).reshape(p.shape)
    eps = losses.EPSILON
    if kind == "categorical_crossentropy":
        s = p.sum(axis=-1, keepdims=True)
        q = p / s
        live = y * ((q > eps) & (q < 1 - eps))          # terms the clip lets through
        g = (live.sum(axis=-1, keepdims=True) - live / np.where(live > 0, q, 1.0)) / s
    elif kind == "binary_crossentropy":
        inside = (p > eps) & (p < 1 - eps)
        q = np.clip(p, eps, 1 - eps)
        g = np.where(inside, (q - y) / (q * (1 - q) * d), 0.0)
    elif kind == "mean_squared_error":
        g = 2 * (p - y) / d
    elif kind == "mean_absolute_error":
        g = np.sign(p - y) / d
    else:
        raise ValueError(kind)
    return g / rows


def targets(kind, rng, n, d):
    """Random targets a loss accepts: one-hot, labels, {0,1} or real values."""
    kind = losses.get(kind)
    if kind == "categorical_crossentropy":
        return np.eye(d, dtype=np.float32)[rng.integers(0, d, n)]
    if kind == "sparse_categorical_crossentropy":
        return rng.integers(0, d, n).astype(np.int32)
    if kind == "binary_crossentropy":
        return rng.integers(0, 2, (n, d)).astype(np.float32)
    return rng.normal(0.0, 1.0, (n, d)).astype(np.float32)


# -- finite differences and comparisons -------------------------------------------------------
def numeric_grad(f, params, h=1e-6):
    """Central differences of the scalar f(params) for every entry of every weight."""
    grads = {}
    for key, w in params.items():
        g = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            old = w[i]
            w[i] = old + h
            up = f(params)
            w[i] = old - h
            down = f(params)
            w[i] = old
            g[i] = (up - down) / (2 * h)
        grads[key] = g
    return grads


def assert_grads_close(native, reference, rtol=2e-3, what=""):
    """Every weight's gradient within rtol, relative to the largest entry of that weight's
    reference gradient (float32 kernels against a float64 reference)."""
    assert sorted(native) == sorted(reference), f"{what}: gradient keys differ"
    for key, ref in reference.items():
        got = native[key]
        assert got.shape == ref.shape, f"{what} {key}: shape {got.shape} != {ref.shape}"
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * scale + 1e-7,
                                   err_msg=f"{what}: gradient of {key}")


# -- native gradients against the references ----------------------------------------------
def native_gradients(model, x, y):
    """(stat sums, {weight path: gradient}) of one forward + backward, no update."""
    sums, grads = model._native.gradients(model._x(x), model._y(y))
    return np.asarray(sums), grads


def check_gradients(model, x, y, forward, loss_kinds, loss_weights=None, analytic=None,
                    what=""):
    """The native gradients against central differences of the weighted Keras loss of
    `forward` (params -> list of outputs), and against `analytic` (params -> gradients)
    when given; the reported total loss against the reference value too."""
    loss_weights = loss_weights or [1.0] * len(loss_kinds)
    ys = y if isinstance(y, list) else [y]
    params = weights_of(model)

    def total(p):
        return sum(w * loss_value(k, t, o)
                   for w, k, t, o in zip(loss_weights, loss_kinds, ys, forward(p)))

    sums, native = native_gradients(model, x, y)
    n = len(model._x(x)[0])
    expected = total(params)
    assert abs(sums[0] / n - expected) <= 1e-5 * abs(expected) + 1e-6, \
        f"{what}: loss {sums[0] / n} != reference {expected}"
    assert_grads_close(native, numeric_grad(total, params), what=f"{what} vs FD")
    if analytic is not None:
        assert_grads_close(native, analytic(params), what=f"{what} vs analytic")
