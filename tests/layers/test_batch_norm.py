"""BatchNormalization against Keras 3 (torch backend) with the same weights: predictions and 2
epochs of fit (history, gamma/beta and the moving statistics after) behind a Dense and behind
a Conv2D (channels_last, and channels_first with axis=1), frozen (inference mode in fit);
training-mode gradients against central differences of a float64 numpy reference; a batch the
CPU runtime would split over 2 threads trains exactly as on one; errors; config and JSON."""
import numpy as np
import keras_parity
import pytest
from numerics_ref import assert_grads_close, native_gradients, numeric_grad, randomize

import kcc
from kcc.layers import BatchNormalization, Dense, Flatten, Input
from kcc.models import Model, model_from_json


def _dense_model(L, M, **bn):
    x = L.Input(shape=(5,), name="x")
    h = L.BatchNormalization(name="bn", momentum=0.8, **bn)(L.Dense(3, name="pre")(x))
    return M(x, L.Dense(2, activation="softmax", name="out")(h))


def _conv_model(L, M, data_format):
    shape, axis = ((5, 5, 2), -1) if data_format == "channels_last" else ((2, 5, 5), 1)
    x = L.Input(shape=shape, name="x")
    h = L.Conv2D(3, 2, data_format=data_format, name="pre")(x)
    h = L.BatchNormalization(axis=axis, momentum=0.5, epsilon=0.01, name="bn")(h)
    return M(x, L.Dense(2, activation="softmax", name="out")(L.Flatten()(h)))


def _randomize(model, rng):
    """Weights of every kind away from their defaults (a positive moving variance)."""
    randomize(model, rng, scale=0.5)
    bn = model.get_layer("bn")
    for w, lo in ((bn.gamma, 0.5), (bn.moving_variance, 0.5)):
        if w is not None:
            w.assign(rng.uniform(lo, lo + 1.0, w.shape).astype(np.float32))
    bn.moving_mean.assign(rng.normal(0.0, 0.5, bn.moving_mean.shape).astype(np.float32))


def _fits_as_keras(build, shape, frozen=False, n=10):
    keras = keras_parity.keras()
    ours, theirs = build(kcc.layers, Model), build(keras.layers, keras.Model)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    ours.get_layer("bn").trainable = theirs.get_layer("bn").trainable = not frozen
    rng = np.random.default_rng(0)
    _randomize(ours, rng)
    x = rng.normal(1.0, 2.0, (n,) + shape).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]
    before = ours.get_layer("bn").get_weights()
    keras_parity.assert_fits_as_keras(ours, theirs, ["pre", "bn", "out"], x, y)
    return before, ours.get_layer("bn").get_weights()


def test_dense_predicts_and_fits_as_keras():
    before, after = _fits_as_keras(_dense_model, (5,))
    assert all(np.abs(a - b).max() > 1e-3 for a, b in zip(before, after))   # all 4 moved


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv_predicts_and_fits_as_keras(data_format):
    _fits_as_keras(lambda L, M: _conv_model(L, M, data_format),
                   (5, 5, 2) if data_format == "channels_last" else (2, 5, 5), n=6)


def test_frozen_layer_runs_in_inference_mode_in_fit():
    before, after = _fits_as_keras(_dense_model, (5,), frozen=True)
    for a, b in zip(before, after):      # gamma, beta frozen; moving statistics not updated
        np.testing.assert_array_equal(a, b)


def test_predict_and_evaluate_of_a_training_model_use_the_moving_statistics():
    """A model compiled for training predicts and evaluates with the moving statistics and
    leaves them alone (its unit holds both forwards: the batch's for fit only). On a
    (batch, T, features) input, the statistics are per feature over batch and time."""
    rng = np.random.default_rng(3)
    x_in = Input((3, 4))
    model = Model(x_in, BatchNormalization(name="bn")(x_in))
    model.compile("sgd", "mse")
    g, b, mm = (rng.normal(size=4).astype(np.float32) for _ in range(3))
    mv = rng.uniform(0.5, 1.5, 4).astype(np.float32)
    model.set_weights([g, b, mm, mv])
    x = rng.normal(1.0, 2.0, (8, 3, 4)).astype(np.float32)
    want = g * (x - mm) / np.sqrt(mv + 1e-3) + b
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, want, verbose=0), 0.0, atol=1e-9)
    for got, was in zip(model.get_weights(), [g, b, mm, mv]):
        np.testing.assert_array_equal(got, was)
    model.fit(x, want, batch_size=8, epochs=1, verbose=0)          # fit: the batch's moments
    np.testing.assert_allclose(model.get_layer("bn").moving_mean.numpy(),
                               0.99 * mm + 0.01 * x.mean(axis=(0, 1)), rtol=1e-5, atol=1e-6)


def test_inside_time_distributed_is_refused_unless_frozen():
    """Keras 3 calls a TimeDistributed layer once per timestep (statistics per timestep);
    kcc folds time into the batch, so a training BatchNormalization there is refused."""
    from kcc.layers import TimeDistributed
    x = Input((3, 4))
    with pytest.raises(ValueError, match=r"'bn_td' \(BatchNormalization\) is inside a TimeDistributed"):
        Model(x, TimeDistributed(BatchNormalization(name="bn_td"))(x)).compile("sgd", "mse")
    frozen = BatchNormalization(name="bn_frozen", trainable=False)
    model = Model(x, TimeDistributed(frozen)(x))
    model.compile("sgd", "mse")
    xs = np.ones((2, 3, 4), np.float32)
    np.testing.assert_allclose(model.predict(xs, verbose=0), xs / np.sqrt(1 + 1e-3), rtol=1e-6)


# -- gradients against finite differences ---------------------------------------------------
def test_training_gradients_match_finite_differences():
    model = _dense_model(kcc.layers, Model, epsilon=0.01)
    model.compile("sgd", "categorical_crossentropy")
    rng = np.random.default_rng(1)
    _randomize(model, rng)
    params = {w.path: w.numpy().astype(np.float64) for w in model.trainable_weights}
    x = rng.normal(1.0, 2.0, (6, 5)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1, 0]]

    def loss(p):    # training mode: the batch's own biased moments
        h = x.astype(np.float64) @ p["pre/kernel"] + p["pre/bias"]
        h = (h - h.mean(0)) / np.sqrt(h.var(0) + 0.01) * p["bn/gamma"] + p["bn/beta"]
        z = h @ p["out/kernel"] + p["out/bias"]
        z = z - z.max(1, keepdims=True)
        return float(-np.mean(np.sum(y * (z - np.log(np.exp(z).sum(1, keepdims=True))), 1)))

    _, native = native_gradients(model, x, y)
    assert_grads_close(native, numeric_grad(loss, params), what="batch_norm")


def test_a_split_batch_trains_as_on_one_thread(monkeypatch):
    """Batches of 16 would split over 2 threads (8 rows each); the batch statistics must be
    the whole batch's, so 2 threads give exactly one thread's losses and weights."""
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 2.0, (40, 5)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 40)]
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("KCC_NUM_THREADS", threads)
        model = _dense_model(kcc.layers, Model)
        _randomize(model, np.random.default_rng(4))
        model.compile(kcc.optimizers.SGD(0.1), "categorical_crossentropy")
        hist = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
        results.append((hist["loss"], model.get_weights()))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


# -- errors and config ------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, words", [
    (dict(synchronized=True), "`synchronized`"),
    (dict(renorm=True), "`renorm`"),
    (dict(renorm_clipping={"rmax": 3.0}), "`renorm_clipping`"),
])
def test_unsupported_arguments_are_refused(kwargs, words):
    with pytest.raises(NotImplementedError) as err:
        BatchNormalization(name="bn", **kwargs)
    assert "bn (BatchNormalization)" in str(err.value) and words in str(err.value)


def test_batch_axis_and_bad_axes_are_refused():
    for axis in (0, 3, -3):
        with pytest.raises(ValueError, match=r"bn \(BatchNormalization\): axis .* is not a "
                                             r"channels axis"):
            BatchNormalization(axis=axis, name="bn")(Input(shape=(4, 3)))
    with pytest.raises(TypeError, match="expected an int"):
        BatchNormalization(axis=[1, 2])


def test_config_and_json_round_trip():
    x = Input(shape=(4, 3))
    bn = BatchNormalization(axis=1, momentum=0.9, epsilon=0.01, center=False,
                            gamma_regularizer=kcc.regularizers.L2(0.1),
                            gamma_constraint="non_neg", moving_variance_initializer="zeros")
    model = Model(x, Dense(2)(Flatten()(bn(x))))
    config = bn.get_config()
    assert config["axis"] == 1 and config["momentum"] == 0.9 and not config["center"]
    assert config["gamma_regularizer"]["config"]["l2"] == pytest.approx(0.1)
    assert config["synchronized"] is False and config["renorm"] is False
    assert [w.name for w in bn.weights] == ["gamma", "moving_mean", "moving_variance"]
    assert BatchNormalization.from_config(config).get_config() == config
    rebuilt = model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    data = np.random.default_rng(2).normal(size=(2, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(rebuilt.predict(data, verbose=0), model.predict(data, verbose=0),
                               rtol=1e-6)
