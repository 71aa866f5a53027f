"""Forward numerics of the compiled layers against float64 numpy.

What is checked, and why:
- Dense with every activation kcc compiles (Keras 3 formulas: hard_sigmoid is
  relu6(x + 3) / 6, elu has alpha 1), with and without bias, and on a rank-3 input where
  it applies to the last axis (the generated GEMM folds the leading axes into rows).
- Standalone Activation layers: after a linear Dense the fusion pass folds them into the
  Dense epilogue, after another Activation (or a non-linear Dense) they run on their
  own; both must give act(act(...)) exactly as written.
- Flatten and Reshape in the middle of a model are views over the same memory, so the
  next layer must read the values in memory (row-major) order.
- Dropout is the identity at inference: predict and evaluate see no mask and no scale.
- predict splits the data into batches; the result must not depend on the batch size.
Weights are set to known float32 values; the reference runs in float64, so tolerances
are those of float32 arithmetic.
"""
import numpy as np
import pytest

import numerics_ref as ref
from kcc.layers import Activation, Dense, Dropout, Flatten, Input, Reshape
from kcc.models import Model

RTOL, ATOL = 1e-4, 1e-5


def _x(rng, *shape):
    return rng.normal(0.0, 1.0, shape).astype(np.float32)


@pytest.mark.parametrize("activation", ref.ACTIVATIONS)
def test_dense_every_activation(activation):
    rng = np.random.default_rng(1)
    inp = Input(shape=(5,))
    model = Model(inp, Dense(4, activation=activation)(inp))
    p = ref.randomize(model, rng, scale=2.0)        # pre-activations spread over ~[-4, 4]
    x = _x(rng, 9, 5)
    expected = ref.dense(p, "dense_1", x, activation)
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)


def test_dense_extreme_inputs_stay_finite():
    """Large pre-activations: sigmoid/softplus/elu/softmax must not overflow to inf/nan."""
    rng = np.random.default_rng(2)
    for activation in ("sigmoid", "softplus", "elu", "softmax", "tanh", "hard_sigmoid"):
        inp = Input(shape=(3,))
        model = Model(inp, Dense(4, activation=activation)(inp))
        p = ref.randomize(model, rng)
        x = (rng.normal(size=(6, 3)) * 60).astype(np.float32)
        got = model.predict(x)
        assert np.all(np.isfinite(got)), activation
        np.testing.assert_allclose(got, ref.dense(p, model.layers[1].name, x, activation),
                                   rtol=RTOL, atol=ATOL, err_msg=activation)


def test_dense_without_bias():
    rng = np.random.default_rng(3)
    inp = Input(shape=(6,))
    layer = Dense(3, activation="tanh", use_bias=False)
    model = Model(inp, layer(inp))
    assert [w.shape for w in layer.get_weights()] == [(6, 3)]
    p = ref.randomize(model, rng)
    x = _x(rng, 5, 6)
    np.testing.assert_allclose(model.predict(x), ref.dense(p, "dense_1", x, "tanh", use_bias=False),
                               rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("activation", ["relu", "softmax"])
def test_dense_on_rank3_input_uses_last_axis(activation):
    rng = np.random.default_rng(4)
    inp = Input(shape=(3, 5))
    model = Model(inp, Dense(4, activation=activation)(inp))
    assert model.output_shape == (None, 3, 4)
    p = ref.randomize(model, rng)
    x = _x(rng, 7, 3, 5)
    got = model.predict(x)
    assert got.shape == (7, 3, 4)
    np.testing.assert_allclose(got, ref.dense(p, "dense_1", x, activation), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("activation", ref.ACTIVATIONS)
def test_activation_layer_after_linear_dense(activation):
    """Dense(linear) -> Activation(a): folded into one Dense with activation a."""
    rng = np.random.default_rng(5)
    inp = Input(shape=(5,))
    model = Model(inp, Activation(activation)(Dense(4)(inp)))
    p = ref.randomize(model, rng, scale=2.0)
    x = _x(rng, 8, 5)
    expected = ref.act(activation, ref.dense(p, "dense_1", x))
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)
    families = [op.family for op in model._native_for_predict().graph.ops]
    assert families == ["dense"], f"the Activation was not folded into the Dense: {families}"


@pytest.mark.parametrize("first,second", [("relu", "softmax"), ("tanh", "sigmoid"),
                                          ("softmax", "elu"), ("linear", "hard_sigmoid")])
def test_activation_after_activation(first, second):
    """Dense(linear) -> Activation(first) -> Activation(second): only the first folds."""
    rng = np.random.default_rng(6)
    inp = Input(shape=(5,))
    model = Model(inp, Activation(second)(Activation(first)(Dense(4)(inp))))
    p = ref.randomize(model, rng, scale=2.0)
    x = _x(rng, 8, 5)
    expected = ref.act(second, ref.act(first, ref.dense(p, "dense_1", x)))
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)


def test_activation_after_nonlinear_dense_and_as_branch():
    """An Activation after a non-linear Dense, and a linear Dense whose output is also
    read elsewhere (a model output), must not be folded: both values stay visible."""
    rng = np.random.default_rng(7)
    inp = Input(shape=(5,))
    hidden = Dense(4)(inp)                           # linear, read twice
    out_a = Activation("sigmoid")(hidden)
    out_b = Activation("tanh")(Dense(3, activation="relu")(hidden))
    model = Model(inp, [hidden, out_a, out_b])
    p = ref.randomize(model, rng, scale=2.0)
    x = _x(rng, 6, 5)
    h = ref.dense(p, "dense_1", x)
    got_h, got_a, got_b = model.predict(x)
    np.testing.assert_allclose(got_h, h, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got_a, ref.act("sigmoid", h), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got_b, np.tanh(ref.dense(p, "dense_2", h, "relu")),
                               rtol=RTOL, atol=ATOL)


def test_flatten_and_reshape_in_the_middle():
    """(2, 3, 4) -> Flatten -> Dense(6) -> Reshape((2, 3)) -> Dense(5) on the last axis
    -> Reshape((-1,)) -> Dense(2): every view keeps row-major memory order."""
    rng = np.random.default_rng(8)
    inp = Input(shape=(2, 3, 4))
    h = Dense(6, activation="tanh")(Flatten()(inp))
    h = Dense(5, activation="relu")(Reshape((2, 3))(h))
    out = Dense(2, activation="softmax")(Reshape((-1,))(h))
    model = Model(inp, out)
    assert model.output_shape == (None, 2)
    p = ref.randomize(model, rng, scale=1.5)
    x = _x(rng, 5, 2, 3, 4)
    h = ref.dense(p, "dense_1", x.reshape(5, 24), "tanh")
    h = ref.dense(p, "dense_2", h.reshape(5, 2, 3), "relu")
    expected = ref.dense(p, "dense_3", h.reshape(5, 10), "softmax")
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)


def test_reshape_of_input_and_as_output():
    """A view of the input as a model output (copied out), and a Reshape as the output."""
    rng = np.random.default_rng(9)
    inp = Input(shape=(12,))
    out = Reshape((3, 4))(Dense(12, activation="elu")(inp))
    model = Model(inp, [Reshape((2, 6))(inp), out])
    p = ref.randomize(model, rng)
    x = _x(rng, 4, 12)
    got_view, got_out = model.predict(x)
    np.testing.assert_array_equal(got_view, x.reshape(4, 2, 6))
    np.testing.assert_allclose(got_out, ref.dense(p, "dense_1", x, "elu").reshape(4, 3, 4),
                               rtol=RTOL, atol=ATOL)


def test_dropout_is_identity_in_predict_and_evaluate():
    rng = np.random.default_rng(10)
    inp = Input(shape=(5,))
    h = Dropout(0.5)(Dense(8, activation="relu")(inp))
    out = Dense(3, activation="softmax")(Dropout(0.3)(h))
    model = Model(inp, out)
    p = ref.randomize(model, rng)
    x = _x(rng, 10, 5)
    expected = ref.dense(p, "dense_2", ref.dense(p, "dense_1", x, "relu"), "softmax")
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)   # uncompiled
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)   # compiled
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 10)]
    loss = model.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(ref.loss_value("categorical_crossentropy", y, expected), rel=1e-5)


@pytest.mark.parametrize("batch_size", [1, 3, 7, 64])
def test_predict_does_not_depend_on_batch_size(batch_size):
    rng = np.random.default_rng(11)
    inp = Input(shape=(4,))
    hidden = Dense(6, activation="tanh")(inp)
    model = Model(inp, Dense(3, activation="softmax")(hidden))
    p = ref.randomize(model, rng)
    x = _x(rng, 10, 4)
    expected = ref.dense(p, "dense_2", ref.dense(p, "dense_1", x, "tanh"), "softmax")
    got = model.predict(x, batch_size=batch_size)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(model.predict_on_batch(x), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_predict_does_not_depend_on_the_thread_count(threads):
    rng = np.random.default_rng(12)
    inp = Input(shape=(3, 4))
    hidden = Dense(6, activation="elu")(inp)
    model = Model(inp, Dense(2, activation="softmax")(Flatten()(hidden)))
    p = ref.randomize(model, rng)
    model._native_for_predict().session.set_threads(threads)
    x = _x(rng, 203, 3, 4)
    h = ref.dense(p, "dense_1", x, "elu").reshape(203, 18)
    expected = ref.dense(p, "dense_2", h, "softmax")
    np.testing.assert_allclose(model.predict(x, batch_size=100), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("activation", ref.ACTIVATIONS)
def test_nan_goes_through_every_activation(activation):
    """A NaN feature gives a NaN output, as in Keras: relu and hard_sigmoid turned it into a
    plausible number, so a model fed one NaN predicted, and trained, as if nothing were wrong."""
    inp = Input(shape=(3,))
    model = Model(inp, Dense(4, activation=activation)(inp))
    x = np.array([[np.nan, 0.0, 0.0], [1.0, 2.0, 3.0]], np.float32)
    out = model.predict(x)
    assert np.isnan(out[0]).all(), out[0]
    assert np.isfinite(out[1]).all()


def test_a_nan_loss_is_reported_and_stops_training():
    from kcc.callbacks import TerminateOnNaN
    inp = Input(shape=(3,))
    model = Model(inp, Dense(2, activation="softmax")(Dense(5, activation="relu")(inp)))
    model.compile("sgd", "categorical_crossentropy")
    x = np.ones((8, 3), np.float32)
    x[0, 0] = np.nan
    hist = model.fit(x, np.eye(2, dtype=np.float32)[np.arange(8) % 2], batch_size=8, epochs=3,
                     verbose=0, callbacks=[TerminateOnNaN()])
    assert len(hist.history["loss"]) == 1 and np.isnan(hist.history["loss"][0])


def test_nan_goes_through_max_pooling_and_maximum():
    """As in Keras (max propagates NaN): a NaN in a pooling window, or in one operand of
    maximum/minimum, gives NaN there and nowhere else (a number next to it used to win)."""
    from kcc.layers import GlobalMaxPooling2D, MaxPooling2D, maximum, minimum
    for fmt in ("channels_last", "channels_first"):
        img = Input(shape=(4, 4, 2) if fmt == "channels_last" else (2, 4, 4))
        pooled = MaxPooling2D((2, 2), data_format=fmt)(img)
        model = Model(img, [pooled, GlobalMaxPooling2D(data_format=fmt)(img)])
        x = np.arange(32, dtype=np.float32).reshape((1,) + img.shape[1:])
        at = (0, 1, 2, 0) if fmt == "channels_last" else (0, 0, 1, 2)     # channel 0, window (0, 1)
        x[at] = np.nan
        p, g = model.predict(x)
        nan_at = (0, 0, 1, 0) if fmt == "channels_last" else (0, 0, 0, 1)
        assert np.isnan(p[nan_at]) and np.isnan(p).sum() == 1, (fmt, p)
        assert np.isnan(g[0, 0]) and np.isfinite(g[0, 1]), (fmt, g)
    a, b = Input(shape=(3,)), Input(shape=(3,))
    model = Model([a, b], [maximum([a, b]), minimum([a, b])])
    hi, lo = model.predict([np.array([[np.nan, 1.0, 5.0]], np.float32), np.array([[2.0, np.nan, 0.0]], np.float32)])
    np.testing.assert_array_equal(np.isnan(hi[0]), [True, True, False])
    np.testing.assert_array_equal(np.isnan(lo[0]), [True, True, False])
    assert hi[0, 2] == 5.0 and lo[0, 2] == 0.0
