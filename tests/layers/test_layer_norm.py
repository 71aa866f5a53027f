"""LayerNormalization against Keras 3 (torch backend) with the same weights: predictions and 2
epochs of fit (history and weights) for the last axis, two trailing axes, rms_scaling,
center=False and scale=False, with a regularizer and a constraint; gradients (weights and,
through a Dense in front, the input's) against central differences of a float64 numpy
reference; axis errors; config and JSON round trips."""
import warnings

import numpy as np
import keras_parity
import pytest
from numerics_ref import assert_grads_close, native_gradients, numeric_grad, randomize

import kcc
from kcc.layers import Dense, Flatten, Input, LayerNormalization, concatenate
from kcc.models import Model, model_from_json

T, D = 3, 4
# (layer name, keyword arguments): every branch normalizes Dense(D) of a (T, D) input
_BRANCHES = [
    ("last", dict()),
    ("rows2", dict(axis=[-2, -1], epsilon=0.01, gamma_regularizer="l2")),
    ("rms", dict(rms_scaling=True)),
    ("no_center", dict(center=False, beta_initializer="ones")),
    ("no_scale", dict(scale=False, axis=(1, 2), beta_constraint="non_neg")),
]


def _model(L, M, activation="linear"):
    x = L.Input(shape=(T, D), name="x")
    h = L.Dense(D, name="pre")(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # rms_scaling is deprecated in Keras 3
        outs = [L.Flatten()(L.LayerNormalization(name=name, **kw)(h)) for name, kw in _BRANCHES]
    return M(x, L.Dense(2, activation=activation, name="out")(L.concatenate(outs)))


def _data(rng, n=6):
    return (rng.normal(1.0, 2.0, (n, T, D)).astype(np.float32),
            rng.normal(size=(n, 2)).astype(np.float32))


def test_predicts_and_fits_as_keras():
    keras = keras_parity.keras()
    ours, theirs = (_model(kcc.layers, Model, "softmax"),
                    _model(keras.layers, keras.Model, "softmax"))
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.get_layer("rows2").gamma.shape == (T, D)
    rng = np.random.default_rng(0)
    randomize(ours, rng, scale=0.5)
    x, y = _data(rng)[0], np.eye(2, dtype=np.float32)[rng.integers(0, 2, 6)]
    names = ["pre", "out"] + [name for name, _ in _BRANCHES]
    keras_parity.assert_fits_as_keras(ours, theirs, names, x, y)
    assert ours.get_layer("no_scale").beta.numpy().min() >= 0      # the constraint held


# -- gradients against finite differences ---------------------------------------------------
def layer_norm_ref(x, gamma, beta, axes, eps, rms=False):
    """Keras 3's layer_normalization in float64 over the trailing `axes` of x."""
    axes = tuple(range(x.ndim - axes, x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    u = (x if rms else x - mean) / np.sqrt(var + eps)
    u = u if gamma is None else u * gamma
    return u if beta is None else u + beta


def test_gradients_match_finite_differences():
    model = _model(kcc.layers, Model)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(1)
    params = randomize(model, rng)
    for name, _ in _BRANCHES:     # gamma away from 1 and beta from 0, so both matter
        for w in model.get_layer(name).weights:
            value = rng.normal(0.8, 0.5, w.shape).astype(np.float32)
            w.assign(value)
            params[w.path] = value.astype(np.float64)
    x, y = _data(rng, n=3)

    def forward(p):
        h = x.astype(np.float64) @ p["pre/kernel"] + p["pre/bias"]
        outs = []
        for name, kw in _BRANCHES:
            axes = len(kw.get("axis", [-1])) if isinstance(kw.get("axis"), (list, tuple)) else 1
            out = layer_norm_ref(h, p.get(f"{name}/gamma"), p.get(f"{name}/beta"), axes,
                                 kw.get("epsilon", 1e-3), kw.get("rms_scaling", False))
            outs.append(out.reshape(len(x), -1))
        return np.concatenate(outs, axis=1) @ p["out/kernel"] + p["out/bias"]

    def loss(p):     # mse, plus rows2's gamma_regularizer="l2" (Keras's 0.01)
        return float(np.mean((forward(p) - y) ** 2) + 0.01 * np.sum(p["rows2/gamma"] ** 2))

    np.testing.assert_allclose(model.predict(x, verbose=0), forward(params), atol=1e-5)
    _, native = native_gradients(model, x, y)
    assert_grads_close(native, numeric_grad(loss, params), what="layer_norm")


# -- errors and config ------------------------------------------------------------------------
@pytest.mark.parametrize("axis, words", [
    (1, "normalizes over the last axes"),            # a leading axis alone
    ([-1, 1], "normalizes over the last axes"),      # sorted as Keras sorts: [-1, 1], not trailing
    ([0, 1, 2], "never the batch axis"),
    (3, "axis 3 is out of bounds for input shape (None, 3, 4)"),
])
def test_axes_other_than_the_trailing_ones_are_refused(axis, words):
    layer = LayerNormalization(axis=axis, name="ln")
    with pytest.raises(ValueError) as err:
        layer(Input(shape=(T, D)))
    assert "ln (LayerNormalization)" in str(err.value) and words in str(err.value)
    assert f"Received: axis={axis}" in str(err.value)
    with pytest.raises(TypeError, match="Expected an int or a list/tuple of ints"):
        LayerNormalization(axis="last")


def test_config_and_json_round_trip():
    x = Input(shape=(T, D))
    ln = LayerNormalization(axis=[-2, -1], epsilon=0.01, center=False,
                            gamma_regularizer=kcc.regularizers.L2(0.1), gamma_constraint="non_neg")
    model = Model(x, Dense(2)(Flatten()(ln(x))))
    config = ln.get_config()
    assert config["axis"] == [-2, -1] and config["epsilon"] == 0.01 and not config["center"]
    assert config["gamma_regularizer"]["config"]["l2"] == pytest.approx(0.1)
    assert [w.name for w in ln.weights] == ["gamma"]
    again = LayerNormalization.from_config(config)
    assert again.get_config() == {**config, "axis": [-2, -1]}
    rebuilt = model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    data = np.random.default_rng(2).normal(size=(2, T, D)).astype(np.float32)
    np.testing.assert_allclose(rebuilt.predict(data, verbose=0), model.predict(data, verbose=0),
                               rtol=1e-6)
