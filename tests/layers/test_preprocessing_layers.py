"""Rescaling, Normalization (adapt, given mean/variance, axis=None, per-axis, invert),
ActivityRegularization and UnitNormalization against Keras 3 (torch backend) with the same
weights and the same adapt data: the adapted statistics, predictions and 2 epochs of fit
(history and weights); gradients through each (into the Dense in front) against central
differences of a float64 numpy reference; UnitNormalization of a zero row (Keras's 1e12
floor); config, JSON and model.save round trips (the adapted statistics are weights);
errors."""
import keras_parity
import numpy as np
import pytest
from numerics_ref import assert_grads_close, native_gradients, numeric_grad, randomize

import kcc
from kcc.layers import Input, Normalization, Rescaling, UnitNormalization
from kcc.models import Model, load_model, model_from_json

_SHAPE = (3, 4)
_ADAPT = np.random.default_rng(7).normal(2.0, 3.0, (20,) + _SHAPE).astype(np.float32)
_ADAPT[:, :, 3] = 5.0          # a constant column: variance 0, the 1e-7 floor on the std


def _model(L, M):
    x = L.Input(shape=_SHAPE, name="x")
    adapted = [L.Normalization(name="n_last"), L.Normalization(axis=None, name="n_all"),
               L.Normalization(axis=(1,), invert=True, name="n_inv")]
    for layer in adapted:
        layer.adapt(_ADAPT)
    h = L.Dense(4, name="pre")(x)
    outs = [adapted[0](x), adapted[1](h), adapted[2](h),
            L.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[1.0, 4.0, 0.25, 2.0],
                            name="n_given")(h),
            L.Normalization(axis=(1, 2), mean=0.5, variance=2.0, name="n_scalar")(h),
            L.Rescaling(1 / 255.0, offset=-0.5, name="rescale")(h),
            L.ActivityRegularization(l1=0.01, l2=0.02, name="act_reg")(h),
            L.UnitNormalization(name="unit")(h),
            L.UnitNormalization(axis=[-2, -1], name="unit2")(h)]
    cat = L.concatenate([L.Flatten()(t) for t in outs])
    return M(x, L.Dense(2, activation="softmax", name="out")(cat))


def test_adapts_predicts_and_fits_as_keras():
    keras = keras_parity.keras()
    ours, theirs = _model(kcc.layers, Model), _model(keras.layers, keras.Model)
    for name in ("n_last", "n_all", "n_inv"):     # Keras's third weight, count, stays 0
        mine, keras_weights = ours.get_layer(name).get_weights(), theirs.get_layer(name).get_weights()
        assert len(mine) == 2
        for a, b in zip(mine, keras_weights[:2]):
            np.testing.assert_array_equal(a, b, err_msg=name)
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (8,) + _SHAPE).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    keras_parity.assert_fits_as_keras(ours, theirs, ["pre", "out"], x, y)


def _randomize_dense(model, rng):
    """randomize() on the trainable weights; the statistics stay as adapted or given (and
    stay out of the returned params: nothing trains them)."""
    stats = {w.path: w.numpy().copy() for w in model.weights if not w.trainable}
    params = randomize(model, rng)
    for w in model.weights:
        if w.path in stats:
            w.assign(stats[w.path])
            del params[w.path]
    return params


def _unit(h, axes):
    s = np.sum(h * h, axis=axes, keepdims=True)
    return h * np.minimum(1 / np.sqrt(s), 1e12)


def test_gradients_match_finite_differences():
    model = _model(kcc.layers, Model)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(1)
    params = _randomize_dense(model, rng)
    x = rng.normal(2.0, 3.0, (3,) + _SHAPE).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)

    def std(layer):
        return np.maximum(np.sqrt(model.get_layer(layer).variance.numpy().astype(np.float64)), 1e-7)

    def mean(layer):
        return model.get_layer(layer).mean.numpy().astype(np.float64)

    def forward(p):
        x64 = x.astype(np.float64)
        h = x64 @ p["pre/kernel"] + p["pre/bias"]
        outs = [(x64 - mean("n_last")) / std("n_last"), (h - mean("n_all")) / std("n_all"),
                mean("n_inv")[:, None] + h * std("n_inv")[:, None],
                (h - mean("n_given")) / std("n_given"), (h - mean("n_scalar")) / std("n_scalar"),
                h / 255.0 - 0.5, h, _unit(h, -1), _unit(h, (1, 2))]
        z = np.concatenate([o.reshape(len(x), -1) for o in outs], axis=1) @ p["out/kernel"] + p["out/bias"]
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True), h

    def loss(p):     # mse, plus ActivityRegularization's penalty over the batch size
        out, h = forward(p)
        return float(np.mean((out - y) ** 2) + (0.01 * np.abs(h).sum() + 0.02 * (h * h).sum()) / len(x))

    np.testing.assert_allclose(model.predict(x, verbose=0), forward(params)[0], atol=1e-5)
    _, native = native_gradients(model, x, y)
    assert_grads_close(native, numeric_grad(loss, params), what="preprocessing layers")


def test_unit_normalization_of_a_zero_row_is_keras_floor():
    keras = keras_parity.keras()
    data = np.zeros((2, 3), np.float32)
    data[1] = [3.0, 4.0, 0.0]
    data[0, 0] = 1e-20                        # sum x^2 = 1e-40 < 1e-24: scaled by 1e12
    ours = Model(*(lambda x: (x, UnitNormalization()(x)))(Input(shape=(3,))))
    theirs = keras.Sequential([keras.Input(shape=(3,)), keras.layers.UnitNormalization()])
    np.testing.assert_allclose(ours.predict(data, verbose=0), theirs.predict(data, verbose=0),
                               rtol=1e-6)


def test_config_json_and_save_round_trip(tmp_path):
    model = _model(kcc.layers, Model)
    _randomize_dense(model, np.random.default_rng(3))
    n = model.get_layer("n_inv")
    assert n.get_config()["axis"] == 1 and n.get_config()["invert"] is True
    assert [w.name for w in n.weights] == ["mean", "variance"] and not n.trainable_weights
    given = model.get_layer("n_given").get_config()
    assert given["mean"] == [1.0, 2.0, 3.0, 4.0] and given["axis"] == -1
    assert model.get_layer("act_reg").get_config()["l2"] == 0.02
    assert "activity_regularizer" not in model.get_layer("act_reg").get_config()
    assert model.get_layer("rescale").get_config()["scale"] == pytest.approx(1 / 255.0)
    for layer in model.layers[1:]:
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    data = np.random.default_rng(4).normal(2.0, 3.0, (2,) + _SHAPE).astype(np.float32)
    want = model.predict(data, verbose=0)
    rebuilt = model_from_json(model.to_json())      # architecture only: adapt's statistics
    rebuilt.set_weights(model.get_weights())        # come with the weights
    np.testing.assert_allclose(rebuilt.predict(data, verbose=0), want, rtol=1e-6)
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.kcc")
    loaded = load_model(tmp_path / "m.kcc")
    np.testing.assert_array_equal(loaded.get_layer("n_last").mean.numpy(),
                                  model.get_layer("n_last").mean.numpy())
    np.testing.assert_allclose(loaded.predict(data, verbose=0), want, rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="both `mean` and `variance` must be set"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match="must have the same shape"):
        Normalization(mean=[1.0, 2.0], variance=1.0)
    with pytest.raises(ValueError, match=r"nb \(Normalization\): .* not of the batch axis"):
        Normalization(axis=0, name="nb")(Input(shape=(3,)))
    layer = Normalization(name="nl")
    layer.adapt(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="incompatible shape"):
        layer.adapt(np.ones((4, 5), np.float32))
    with pytest.raises(TypeError, match=r"nl \(Normalization\): kcc's adapt\(\) takes a numpy"):
        layer.adapt([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"rs \(Rescaling\): kcc takes a number for `scale`"):
        Rescaling([1.0, 2.0], name="rs")
    with pytest.raises(ValueError, match=r"un \(UnitNormalization\) normalizes over the last axes"):
        UnitNormalization(axis=1, name="un")(Input(shape=(3, 4)))
    with pytest.raises(TypeError, match="Invalid value for `axis`"):
        UnitNormalization(axis="last")
