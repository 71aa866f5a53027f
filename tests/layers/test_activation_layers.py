"""Keras 3's activation layers (ReLU with max_value / negative_slope / threshold, LeakyReLU,
ELU, Softmax, PReLU with shared_axes, Identity) against Keras 3 (torch backend) with the same
weights: predictions, 2 epochs of fit (history and weights: PReLU's alpha too, with a
regularizer and a constraint); gradients (the Dense in front and every alpha) against central
differences of a float64 numpy reference; config, JSON and model.save round trips; the
arguments Keras refuses and the ones kcc refuses."""
import warnings

import keras_parity
import numpy as np
import pytest
from numerics_ref import assert_grads_close, native_gradients, numeric_grad, randomize

import kcc
from kcc.layers import ELU, Identity, Input, LeakyReLU, PReLU, ReLU, Softmax
from kcc.models import Model, load_model, model_from_json

# (layer name, class name, keyword arguments): each acts on Dense(2) of a (3, 4, 2) input
_BRANCHES = [
    ("relu_all", "ReLU", dict(max_value=1.5, negative_slope=0.1, threshold=0.2)),
    ("relu_max", "ReLU", dict(max_value=0.8)),             # ReluWith without a slope
    ("relu6", "ReLU", dict(max_value=6)),                  # the named relu6
    ("relu_leaky", "ReLU", dict(negative_slope=0.4)),       # Keras's leaky_relu case
    ("relu", "ReLU", dict()),
    ("leaky", "LeakyReLU", dict(negative_slope=0.25)),
    ("elu", "ELU", dict(alpha=0.7)),
    ("elu1", "ELU", dict()),
    ("softmax", "Softmax", dict()),
    ("same", "Identity", dict()),
    ("p_all", "PReLU", dict(alpha_initializer="random_uniform")),
    ("p_chan", "PReLU", dict(shared_axes=[1, 2], alpha_regularizer="l2")),
    ("p_mid", "PReLU", dict(shared_axes=2, alpha_constraint="non_neg")),
    ("p_ends", "PReLU", dict(shared_axes=[1, 3])),
]
_SHAPE = (3, 4, 2)


def _model(L, M):
    x = L.Input(shape=_SHAPE, name="x")
    h = L.Dense(2, name="pre")(x)
    outs = [L.Flatten()(getattr(L, cls)(name=name, **kw)(h)) for name, cls, kw in _BRANCHES]
    return M(x, L.Dense(2, activation="softmax", name="out")(L.concatenate(outs)))


def _with_alphas(model, rng):
    """randomize(), with every alpha in (0.1, 0.6): a slope that matters."""
    params = randomize(model, rng)
    for name, cls, _ in _BRANCHES:
        if cls == "PReLU":
            w = model.get_layer(name).alpha
            value = rng.uniform(0.1, 0.6, w.shape).astype(np.float32)
            w.assign(value)
            params[w.path] = value.astype(np.float64)
    return params


def test_predicts_and_fits_as_keras():
    keras = keras_parity.keras()
    ours, theirs = _model(kcc.layers, Model), _model(keras.layers, keras.Model)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    rng = np.random.default_rng(0)
    _with_alphas(ours, rng)
    x = rng.normal(0.0, 2.0, (8,) + _SHAPE).astype(np.float32)
    x[0, 0, 0] = 0.0                        # an exact 0 into the Dense: its bias decides the kink
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    names = ["pre", "out"] + [n for n, cls, _ in _BRANCHES if cls == "PReLU"]
    keras_parity.assert_fits_as_keras(ours, theirs, names, x, y)


# -- gradients against finite differences ---------------------------------------------------
def _relu(z, max_value=None, negative_slope=0.0, threshold=0.0):
    top = np.where(z > threshold, z if max_value is None else np.minimum(z, max_value), 0.0)
    return top + np.where(z < threshold, negative_slope * (z - threshold), 0.0)


def _branch(cls, kw, z, alpha):
    if cls == "ReLU":
        return _relu(z, **kw)
    if cls == "LeakyReLU":
        return np.where(z > 0, z, kw["negative_slope"] * z)
    if cls == "ELU":
        return np.where(z > 0, z, kw.get("alpha", 1.0) * np.expm1(np.minimum(z, 0)))
    if cls == "Softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if cls == "PReLU":
        return np.maximum(z, 0) - alpha * np.maximum(-z, 0)
    return z


def test_gradients_match_finite_differences():
    model = _model(kcc.layers, Model)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(1)
    params = _with_alphas(model, rng)
    x = rng.normal(0.0, 2.0, (3,) + _SHAPE).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)

    def forward(p):
        h = x.astype(np.float64) @ p["pre/kernel"] + p["pre/bias"]
        outs = [_branch(cls, kw, h, p.get(f"{name}/alpha")).reshape(len(x), -1)
                for name, cls, kw in _BRANCHES]
        z = np.concatenate(outs, axis=1) @ p["out/kernel"] + p["out/bias"]
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def loss(p):     # mse, plus p_chan's alpha_regularizer="l2" (Keras's 0.01)
        return float(np.mean((forward(p) - y) ** 2) + 0.01 * np.sum(p["p_chan/alpha"] ** 2))

    np.testing.assert_allclose(model.predict(x, verbose=0), forward(params), atol=1e-5)
    _, native = native_gradients(model, x, y)
    assert_grads_close(native, numeric_grad(loss, params), what="activation layers")


def test_the_named_activations_stay_fusable():
    """ReLU() and ELU() are Keras's relu and elu: they fold into the Dense before them, as
    Activation('relu') does; an activation with arguments runs as its own op."""
    from kcc.graph.trace import lower
    from kcc.passes.fusion import fuse
    x = Input(shape=(4,))
    plain = Model(x, ReLU()(kcc.layers.Dense(3)(x)))
    with_args = Model(x, ReLU(max_value=2.0)(kcc.layers.Dense(3)(x)))
    assert [op.family for op in fuse(lower(plain)).ops] == ["dense"]
    ops = fuse(lower(with_args)).ops
    assert [op.family for op in ops] == ["dense", "activation"]
    assert ops[1].attrs["params"] == {"negative_slope": 0.0, "max_value": 2.0, "threshold": 0.0}


# -- errors and config ------------------------------------------------------------------------
@pytest.mark.parametrize("make, words", [
    (lambda: ReLU(max_value=-1.0), "max_value of a ReLU layer cannot be a negative value"),
    (lambda: ReLU(negative_slope=-0.1), "negative_slope of a ReLU layer cannot be None"),
    (lambda: ReLU(threshold=None), "threshold of a ReLU layer cannot be None"),
    (lambda: LeakyReLU(negative_slope=-1), "Leaky ReLU layer cannot be None or negative"),
    (lambda: ELU(alpha="big"), "alpha of an ELU layer must be a number"),
])
def test_arguments_keras_refuses(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_softmax_over_another_axis_and_bad_shared_axes_are_refused():
    with pytest.raises(ValueError) as err:
        Softmax(axis=1, name="sm")(Input(shape=(3, 4)))
    assert "sm (Softmax)" in str(err.value) and "last axis only" in str(err.value)
    assert "Received: axis=1" in str(err.value)
    Softmax(axis=2)(Input(shape=(3, 4)))            # the last axis, counted from the front
    with pytest.raises(ValueError, match=r"pr \(PReLU\): shared_axes counts .* from 1"):
        PReLU(shared_axes=[0], name="pr")(Input(shape=(3, 4)))
    with pytest.raises(TypeError, match="shared_axes"):
        PReLU(shared_axes="channels")


def test_leaky_relu_takes_keras_2_alpha():
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        layer = LeakyReLU(alpha=0.1)
    assert layer.get_config()["negative_slope"] == pytest.approx(0.1)


def test_config_json_and_save_round_trip(tmp_path):
    model = _model(kcc.layers, Model)
    _with_alphas(model, np.random.default_rng(3))
    relu = model.get_layer("relu_all").get_config()
    assert (relu["max_value"], relu["negative_slope"], relu["threshold"]) == (1.5, 0.1, 0.2)
    p = model.get_layer("p_chan")
    assert p.get_config()["shared_axes"] == [1, 2] and p.alpha.shape == (1, 1, 2)
    assert p.get_config()["alpha_regularizer"]["config"]["l2"] == pytest.approx(0.01)
    for name, cls, _ in _BRANCHES:
        layer = model.get_layer(name)
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    data = np.random.default_rng(4).normal(0.0, 2.0, (2,) + _SHAPE).astype(np.float32)
    want = model.predict(data, verbose=0)
    rebuilt = model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(data, verbose=0), want, rtol=1e-6)
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.kcc")
    np.testing.assert_allclose(load_model(tmp_path / "m.kcc").predict(data, verbose=0), want,
                               rtol=1e-6)
