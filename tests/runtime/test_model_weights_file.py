"""save_weights / load_weights through a compiled model: round trip, atomicity, and
loading into a different model is a clear error that changes nothing."""
import os

import numpy as np
import pytest

import kcc
from kcc.layers import Dense, Input
from kcc.models import Model


def build(hidden=8, seed=0):
    kcc.utils.set_random_seed(seed)
    x = Input(shape=(5,))
    h = Dense(hidden, activation="tanh")(x)
    return Model(x, Dense(2, activation="softmax")(h))


def test_round_trip_restores_predictions(tmp_path):
    a = build(seed=1)
    a.compile("adam", "categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1, 1, 0, 0]]
    a.fit(x, y, epochs=3, verbose=0)
    path = tmp_path / "w.weights.h5"
    a.save_weights(path)
    b = build(seed=2)                  # same architecture, other layer names and weights
    assert not np.allclose(a.predict(x), b.predict(x))
    with pytest.warns(UserWarning, match=r"loaded by layer order"):
        b.load_weights(path)           # names differ, nothing else: by order, as Keras does
    np.testing.assert_array_equal(b.predict(x), a.predict(x))
    kcc.utils.clear_session()
    c = build(seed=3)
    c.compile("sgd", "categorical_crossentropy")
    c.fit(x, y, epochs=2, verbose=0)
    c.save_weights(tmp_path / "c.safetensors")
    kcc.utils.clear_session()
    e = build(seed=4)                  # same names as c (counters reset): loads
    e.load_weights(tmp_path / "c.safetensors")
    np.testing.assert_array_equal(e.predict(x), c.predict(x))


def test_loading_a_different_model_names_the_layer_and_keeps_weights(tmp_path):
    kcc.utils.clear_session()
    small = build(hidden=8)
    small.save_weights(tmp_path / "small.weights")
    kcc.utils.clear_session()
    big = build(hidden=9)
    before = big.get_weights()
    with pytest.raises(ValueError, match=r"dense_1.*kernel.*\(5, 8\).*\(5, 9\)"):
        big.load_weights(tmp_path / "small.weights")
    for w0, w1 in zip(before, big.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    m = build()
    path = tmp_path / "m.weights"
    m.save_weights(path)
    saved = m.get_weights()
    m.set_weights([w + 1 for w in saved])
    m.save_weights(path)               # overwrite in place
    m.set_weights(saved)
    m.load_weights(path)
    for w0, w1 in zip(saved, m.get_weights()):
        np.testing.assert_array_equal(w0 + 1, w1)
    assert sorted(os.listdir(tmp_path)) == ["m.weights"]
    with pytest.raises(FileExistsError):
        m.save_weights(path, overwrite=False)


def test_truncated_file_is_a_clear_error(tmp_path):
    m = build()
    path = tmp_path / "m.weights"
    m.save_weights(path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match=str(path.name)):
        m.load_weights(path)
