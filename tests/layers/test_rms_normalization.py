"""RMSNormalization against Keras 3 (torch backend: F.rms_norm) with the same weights:
predictions and 2 epochs of fit (history and the trained scale) over the last axis and two
trailing axes; gradients (scale and, through a Dense in front, the input's) against central
differences of a float64 numpy reference; errors; config and model.save round trips."""
import keras_parity
import numpy as np
import pytest
from numerics_ref import assert_grads_close, native_gradients, numeric_grad, randomize

import kcc
from kcc.layers import Input, RMSNormalization
from kcc.models import Model, load_model

T, D = 3, 4
_BRANCHES = [("last", dict()), ("rows2", dict(axis=[-2, -1], epsilon=0.01)),
             ("eps", dict(axis=2, epsilon=0.5))]


def _model(L, M):
    x = L.Input(shape=(T, D), name="x")
    h = L.Dense(D, name="pre")(x)
    outs = [L.Flatten()(L.RMSNormalization(name=name, **kw)(h)) for name, kw in _BRANCHES]
    return M(x, L.Dense(2, activation="softmax", name="out")(L.concatenate(outs)))


def _with_scales(model, rng):
    params = randomize(model, rng)
    for name, _ in _BRANCHES:     # scale away from 1, so it matters
        w = model.get_layer(name).scale
        value = rng.normal(0.8, 0.5, w.shape).astype(np.float32)
        w.assign(value)
        params[w.path] = value.astype(np.float64)
    return params


def test_predicts_and_fits_as_keras():
    keras = keras_parity.keras()
    ours, theirs = _model(kcc.layers, Model), _model(keras.layers, keras.Model)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    rng = np.random.default_rng(0)
    _with_scales(ours, rng)
    x = rng.normal(1.0, 2.0, (8, T, D)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    keras_parity.assert_fits_as_keras(ours, theirs, ["pre", "out"] + [n for n, _ in _BRANCHES],
                                      x, y)


def test_gradients_match_finite_differences():
    model = _model(kcc.layers, Model)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(1)
    params = _with_scales(model, rng)
    x = rng.normal(1.0, 2.0, (3, T, D)).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)

    def rms(h, scale, axes, eps):
        return h / np.sqrt(np.mean(h * h, axis=axes, keepdims=True) + eps) * scale

    def forward(p):
        h = x.astype(np.float64) @ p["pre/kernel"] + p["pre/bias"]
        outs = [rms(h, p[f"{name}/scale"], (1, 2) if "axis" in kw and kw["axis"] == [-2, -1] else -1,
                    kw.get("epsilon", 1e-6)).reshape(len(x), -1) for name, kw in _BRANCHES]
        z = np.concatenate(outs, axis=1) @ p["out/kernel"] + p["out/bias"]
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def loss(p):
        return float(np.mean((forward(p) - y) ** 2))

    np.testing.assert_allclose(model.predict(x, verbose=0), forward(params), atol=1e-5)
    _, native = native_gradients(model, x, y)
    assert_grads_close(native, numeric_grad(loss, params), what="rms_normalization")


def test_errors_and_config_round_trip(tmp_path):
    with pytest.raises(ValueError, match=r"r1 \(RMSNormalization\) normalizes over the last axes"):
        RMSNormalization(axis=1, name="r1")(Input(shape=(T, D)))
    with pytest.raises(ValueError, match="`epsilon` must be a number >= 0"):
        RMSNormalization(epsilon=-1.0)
    with pytest.raises(TypeError, match="Invalid value for `axis`"):
        RMSNormalization(axis="last")
    model = _model(kcc.layers, Model)
    _with_scales(model, np.random.default_rng(3))
    layer = model.get_layer("rows2")
    assert layer.get_config()["axis"] == [-2, -1] and layer.get_config()["epsilon"] == 0.01
    assert layer.scale.shape == (T, D)
    assert RMSNormalization.from_config(layer.get_config()).get_config() == layer.get_config()
    data = np.random.default_rng(4).normal(size=(2, T, D)).astype(np.float32)
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.kcc")
    np.testing.assert_allclose(load_model(tmp_path / "m.kcc").predict(data, verbose=0),
                               model.predict(data, verbose=0), rtol=1e-6)
