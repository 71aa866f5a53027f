"""Concatenation into slices: producers write their columns of the concat directly; the
numbers (forward and gradients) are exactly those of the copying concat."""
import numpy as np
import pytest

import kcc
from kcc.layers import LSTM, Dense, Input, concatenate
from kcc.models import Model
from kcc.passes import slices


def build():
    kcc.utils.clear_session()      # same layer names in both builds: gradients compare by name
    kcc.utils.set_random_seed(0)
    a, b = Input(shape=(5, 3)), Input(shape=(4,))
    shared = LSTM(6)
    merged = concatenate([shared(a), Dense(7, activation="tanh")(b), b,
                          Dense(2, activation="relu")(b)])
    model = Model([a, b], Dense(2, activation="softmax")(merged))
    model.compile("sgd", "categorical_crossentropy")
    return model


def data():
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((9, 5, 3)).astype(np.float32),
         rng.standard_normal((9, 4)).astype(np.float32)]
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 9)]
    return x, y


def test_producers_write_into_the_concat_and_numbers_do_not_change(monkeypatch):
    x, y = data()
    sliced = build()
    concat = [op for op in sliced._native.graph.ops if op.family == "concat"][-1]
    assert concat.attrs["in_place"] == [0, 1, 3]      # LSTM, Dense, Dense: not the Input
    p1 = sliced.predict(x)
    g1 = sliced._native.gradients(sliced._x(x), sliced._y(y))[1]

    monkeypatch.setattr(slices, "STRIDED_OUTPUT", set())
    copied = build()
    assert all(not op.attrs.get("in_place") for op in copied._native.graph.ops
               if op.family == "concat")
    np.testing.assert_array_equal(p1, copied.predict(x))
    g2 = copied._native.gradients(copied._x(x), copied._y(y))[1]
    assert sorted(g1) == sorted(g2)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_a_value_with_another_reader_is_still_copied():
    kcc.utils.set_random_seed(0)
    x = Input(shape=(4,))
    h = Dense(3)(x)
    out = Dense(1)(concatenate([h, Dense(2)(h)]))      # h is read by the concat and a Dense
    m = Model(x, out)
    m.compile("sgd", "mse")
    concat = next(op for op in m._native.graph.ops if op.family == "concat")
    assert concat.attrs["in_place"] == [1]
    xs = np.ones((3, 4), np.float32)
    w = [l for l in m.layers if l.name.startswith("dense")]
    hv = xs @ w[0].get_weights()[0] + w[0].get_weights()[1]
    h2 = hv @ w[1].get_weights()[0] + w[1].get_weights()[1]
    ref = np.concatenate([hv, h2], axis=1) @ w[2].get_weights()[0] + w[2].get_weights()[1]
    np.testing.assert_allclose(m.predict(xs), ref, rtol=1e-5)


def test_sequences_concatenated_along_time_write_whole_blocks(monkeypatch):
    from kcc.layers import Flatten

    def model():
        kcc.utils.clear_session()
        kcc.utils.set_random_seed(1)
        a = Input(shape=(4, 3))
        seqs = concatenate([LSTM(5, return_sequences=True)(a),
                            LSTM(5, return_sequences=True, go_backwards=True)(a)], axis=1)
        m = Model(a, Dense(2, activation="softmax")(Flatten()(seqs)))
        m.compile("sgd", "categorical_crossentropy")
        return m

    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 6)]
    m1 = model()
    assert next(op for op in m1._native.graph.ops if op.family == "concat").attrs["in_place"] == [0, 1]
    g1 = m1._native.gradients(m1._x(x), m1._y(y))[1]
    monkeypatch.setattr(slices, "STRIDED_OUTPUT", set())
    m2 = model()
    np.testing.assert_array_equal(m1.predict(x), m2.predict(x))
    g2 = m2._native.gradients(m2._x(x), m2._y(y))[1]
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_inception_towers_write_their_channels_in_place(monkeypatch):
    """The guide's inception pattern (channels_first convs concatenated on channels), small."""
    from kcc.layers import Convolution2D, Flatten, MaxPooling2D, merge

    def model():
        kcc.utils.clear_session()
        kcc.utils.set_random_seed(4)
        img = Input(shape=(3, 6, 6))
        t1 = Convolution2D(4, 1, 1, border_mode='same', activation='relu')(img)
        t1 = Convolution2D(4, 3, 3, border_mode='same', activation='relu')(t1)
        t2 = Convolution2D(2, 1, 1, border_mode='same', activation='relu')(img)
        t3 = MaxPooling2D((3, 3), strides=(1, 1), border_mode='same')(img)
        t3 = Convolution2D(3, 1, 1, border_mode='same')(t3)
        out = merge([t1, t2, t3], mode='concat', concat_axis=1)
        m = Model(img, Dense(2, activation="softmax")(Flatten()(out)))
        m.compile("sgd", "categorical_crossentropy")
        return m

    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 3, 6, 6)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 5)]
    m1 = model()
    assert next(op for op in m1._native.graph.ops if op.family == "concat").attrs["in_place"] == [0, 1, 2]
    g1 = m1._native.gradients(m1._x(x), m1._y(y))[1]
    monkeypatch.setattr(slices, "STRIDED_OUTPUT", set())
    m2 = model()
    np.testing.assert_allclose(m1.predict(x), m2.predict(x), rtol=1e-6, atol=1e-7)
    g2 = m2._native.gradients(m2._x(x), m2._y(y))[1]
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-5, atol=1e-7, err_msg=k)
