"""TimeDistributed(layer) and TimeDistributed(model): the wrapped computation runs on the
batch and time axes folded together, with no copy, and gives per-timestep results;
TimeDistributed(Conv1D) predicts and fits as Keras 3 (torch)."""
import keras_parity
import numpy as np
import pytest

import kcc
from kcc.layers import LSTM, Dense, Dropout, Flatten, Input, Reshape, TimeDistributed
from kcc.models import Model


def inner_model():
    x = Input(shape=(12,))
    h = Dense(16, activation="relu")(x)
    h = Dropout(0.25)(h)
    return Model(x, Dense(5, activation="softmax")(h))


def test_model_over_timesteps_equals_calling_it_per_step():
    kcc.utils.set_random_seed(0)
    inner = inner_model()
    seq = Input(shape=(7, 12))
    out = TimeDistributed(inner)(seq)
    assert out.shape == (None, 7, 5)
    outer = Model(seq, out)
    x = np.random.default_rng(0).standard_normal((9, 7, 12)).astype(np.float32)
    per_step = np.stack([inner.predict(x[:, t]) for t in range(7)], axis=1)
    for bs in (1, 4, 9):                 # batch slicing and threads must not matter
        np.testing.assert_allclose(outer.predict(x, batch_size=bs), per_step, rtol=1e-5, atol=1e-6)
    g = outer._native_for_predict().graph
    assert all(op.fold == 7 for op in g.ops)            # runs on n * 7 rows
    assert not any(op.family == "copy" for op in g.ops)


def test_wrapped_layer_gradients_equal_the_rank3_dense():
    """TimeDistributed(Dense) and Dense on (T, D) are the same math: same numbers, same
    gradients (checked against each other and finite differences elsewhere)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, (6, 4))]

    def build(wrap):
        inp = Input(shape=(4, 3))
        dense = Dense(2, activation="softmax")
        out = TimeDistributed(dense)(inp) if wrap else dense(inp)
        m = Model(inp, out)
        m.compile("sgd", "categorical_crossentropy")
        return m, dense

    a, da = build(True)
    b, db = build(False)
    db.set_weights(da.get_weights())
    np.testing.assert_allclose(a.predict(x), b.predict(x), rtol=1e-6)
    ga = a._native.gradients(a._x(x), a._y(y))[1]
    gb = b._native.gradients(b._x(x), b._y(y))[1]
    for (ka, va), (kb, vb) in zip(sorted(ga.items()), sorted(gb.items())):
        np.testing.assert_allclose(va, vb, rtol=1e-5, atol=1e-7)


def _conv_over_timesteps(L, Model):
    x = L.Input(shape=(4, 9, 3))                              # 4 timesteps of (steps, channels)
    h = L.TimeDistributed(L.Conv1D(5, 3, strides=2, padding="same", activation="tanh"),
                          name="td")(x)                       # (4, 5, 5)
    return Model(x, L.Dense(2, activation="softmax", name="out")(L.Flatten()(h)))


def test_wrapped_conv1d_predicts_and_fits_as_keras():
    keras = keras_parity.keras()
    ours = _conv_over_timesteps(kcc.layers, Model)
    theirs = _conv_over_timesteps(keras.layers, keras.Model)
    assert ours.get_layer("td").output_shape == (None, 4, 5, 5)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 4, 9, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 12)]
    keras_parity.assert_fits_as_keras(ours, theirs, ("td", "out"), x, y)


def test_training_through_a_wrapped_model_updates_its_weights_and_learns():
    kcc.utils.set_random_seed(3)
    inner = inner_model()
    seq = Input(shape=(6, 12))
    enc = LSTM(8)(TimeDistributed(inner)(seq))
    model = Model(seq, Dense(2, activation="softmax")(enc))
    model.compile("adam", "categorical_crossentropy", metrics=["acc"])
    rng = np.random.default_rng(3)
    x = rng.standard_normal((128, 6, 12)).astype(np.float32)
    labels = (x[:, :, 0].sum(axis=1) > 0).astype(int)
    y = np.eye(2, dtype=np.float32)[labels]
    before = inner.get_weights()[0].copy()
    loss0 = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert not np.allclose(before, inner.get_weights()[0])
    assert model.evaluate(x, y, verbose=0)[0] < 0.6 * loss0


def test_views_inside_the_fold_keep_timesteps_apart():
    inp = Input(shape=(5, 2, 3))
    out = TimeDistributed(Flatten())(inp)
    assert out.shape == (None, 5, 6)
    back = TimeDistributed(Reshape((3, 2)))(out)
    m = Model(inp, Dense(1)(Flatten()(back)))
    x = np.arange(2 * 5 * 2 * 3, dtype=np.float32).reshape(2, 5, 2, 3)
    flat = Model(inp, out).predict(x)
    np.testing.assert_array_equal(flat, x.reshape(2, 5, 6))
    assert m.predict(x).shape == (2, 1)


def test_bad_input_rank_names_the_layer():
    td = TimeDistributed(Dense(3), name="per_step")
    with pytest.raises(ValueError, match=r"per_step.*\(None, timesteps, \.\.\.\).*\(None, 4\)"):
        td(Input(shape=(4,)))
    with pytest.raises(ValueError, match="layer or a model"):
        TimeDistributed("dense")


def _built_inner(kind):
    """A layer or model built for 4 features (frames of 6 x 6 x 1 for the conv), and the
    per-step shape of a sequence it must refuse."""
    from kcc.layers import Conv2D
    if kind == "model":
        i = Input(shape=(4,))
        return Model(i, Dense(2)(i)), (3,)
    if kind == "dense":
        d = Dense(2)
        d(Input(shape=(4,)))
        return d, (5,)
    if kind == "lstm":
        r = LSTM(3)
        r(Input(shape=(7, 4)))
        return r, (7, 6)
    conv = Conv2D(2, (3, 3))
    conv(Input(shape=(6, 6, 1)))
    return conv, (6, 6, 5)


@pytest.mark.parametrize("kind", ["model", "dense", "lstm", "conv"])
def test_a_built_wrapped_layer_refuses_timesteps_of_another_shape(kind):
    """A layer or model built before it is wrapped has fixed weights: timesteps of another
    shape are an error naming both layers, not a kernel run over the wrong sizes (fewer
    features read part of the kernel; more read past it and crashed fit)."""
    inner, step = _built_inner(kind)
    seq = Input(shape=(5,) + step)
    with pytest.raises(ValueError, match=rf"Layer time_distributed\w* \(TimeDistributed\) feeds each "
                                         rf"timestep of its input \(None, 5, {step[0]}.*to {inner.name} as "
                                         rf"shape \(None, {step[0]}.*which {inner.name} does not accept"):
        TimeDistributed(inner)(seq)


def test_a_built_wrapped_layer_takes_timesteps_of_its_shape():
    inner, _ = _built_inner("dense")
    out = TimeDistributed(TimeDistributed(inner))(Input(shape=(2, 3, 4)))
    assert out.shape == (None, 2, 3, 2)
    with pytest.raises(ValueError, match="feeds each timestep"):   # checked through both wrappers
        TimeDistributed(TimeDistributed(inner))(Input(shape=(2, 3, 5)))


@pytest.mark.parametrize("how", ["argument", "attribute"])
def test_a_frozen_wrapper_freezes_the_wrapped_layer(how):
    """Keras: TimeDistributed(Dense(3), trainable=False) (or td.trainable = False) has no
    trainable weights, so fit leaves the Dense alone. kcc kept training the Dense."""
    dense = Dense(3)
    td = TimeDistributed(dense, trainable=False) if how == "argument" else TimeDistributed(dense)
    if how == "attribute":
        td.trainable = False
    seq = Input(shape=(2, 4))
    model = Model(seq, Dense(2)(Flatten()(td(seq))))
    assert td.trainable_weights == [] and len(td.non_trainable_weights) == 2
    model.compile("sgd", "mse")
    before = dense.get_weights()
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((8, 2, 4)).astype(np.float32),
              rng.standard_normal((8, 2)).astype(np.float32), epochs=2, verbose=0)
    for b, a in zip(before, dense.get_weights()):
        np.testing.assert_array_equal(a, b)
    td.trainable = True                      # and thawing it thaws the layer
    assert dense.trainable and len(td.trainable_weights) == 2
