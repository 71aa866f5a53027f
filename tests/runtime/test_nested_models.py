"""Models inside models: one summary row each, one set of weights however deep or often
they are used, and weights files that round-trip through every level of nesting."""
import numpy as np
import pytest
from safetensors import safe_open

import kcc
from kcc.layers import Dense, Dropout, Input, TimeDistributed, merge
from kcc.models import Model, Sequential
from kcc.utils import clear_session


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    yield


def _three_levels(seed=0):
    """outer( middle( inner(x) ), sequential ): a model in a model in a model, plus a
    Sequential, the middle model called twice (shared) on two inputs."""
    kcc.utils.set_random_seed(seed)
    x = Input(shape=(6,))
    inner = Model(x, Dense(5, activation='tanh')(x))                       # model_1: dense_1
    y = Input(shape=(6,))
    middle = Model(y, Dense(4, activation='relu')(inner(y)))              # model_2: dense_2
    head = Sequential([Dense(3, input_dim=8, activation='tanh'), Dropout(0.1)])   # dense_3
    a, b = Input(shape=(6,)), Input(shape=(6,))
    both = merge([middle(a), middle(b)], mode='concat')
    out = Dense(1, activation='sigmoid')(head(both))                       # dense_4
    return Model([a, b], out), middle, inner, head


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((n, 6)).astype(np.float32) for _ in range(2))
    return [a, b], (a[:, 0] > b[:, 0]).astype(np.float32).reshape(-1, 1)


def test_summary_lists_a_nested_model_as_one_row_with_its_params():
    outer, middle, inner, head = _three_levels()
    lines = []
    outer.summary(print_fn=lines.append)
    rows = {line.split()[0]: line for line in lines if line[:1].isalpha()}
    assert "model_2" in rows and "sequential_1" in rows
    assert "model_1" not in rows and "dense_1" not in rows and "dense_3" not in rows
    assert rows["model_2"].split()[1] == "(Model)"
    assert middle.count_params() == (6 * 5 + 5) + (5 * 4 + 4)
    assert str(middle.count_params()) in rows["model_2"].split()
    assert str(head.count_params()) in rows["sequential_1"].split()
    assert f"Total params: {outer.count_params():,}" in lines
    assert outer.count_params() == middle.count_params() + head.count_params() + 3 + 1
    # the middle model is used twice but its weights count once
    assert len(outer.weights) == len({id(w) for w in outer.weights}) == 8


def test_weights_round_trip_through_every_level(tmp_path):
    outer, middle, inner, head = _three_levels(seed=1)
    outer.compile(optimizer='adam', loss='binary_crossentropy')
    x, y = _data()
    outer.fit(x, y, nb_epoch=3, verbose=0)
    want = outer.predict(x)
    want_inner = inner.predict(x[0])
    path = tmp_path / "outer.weights.h5"
    outer.save_weights(path)
    with safe_open(str(path), framework="np") as f:
        keys = sorted(f.keys())
    assert keys == sorted(["model_2/model_1/dense_1/kernel", "model_2/model_1/dense_1/bias",
                           "model_2/dense_2/kernel", "model_2/dense_2/bias",
                           "sequential_1/dense_3/kernel", "sequential_1/dense_3/bias",
                           "dense_4/kernel", "dense_4/bias"])

    clear_session()
    again, _, inner_again, _ = _three_levels(seed=2)      # same names, other weights
    assert not np.allclose(again.predict(x), want)
    again.load_weights(path)
    np.testing.assert_array_equal(again.predict(x), want)
    np.testing.assert_array_equal(inner_again.predict(x[0]), want_inner)


def test_inner_model_saves_and_loads_on_its_own(tmp_path):
    outer, middle, inner, head = _three_levels(seed=3)
    x, _ = _data()
    middle.save_weights(tmp_path / "middle.weights")
    want = outer.predict(x)
    middle.set_weights([w * 0 for w in middle.get_weights()])
    assert not np.allclose(outer.predict(x), want)
    middle.load_weights(tmp_path / "middle.weights")       # restores the outer model too
    np.testing.assert_array_equal(outer.predict(x), want)


def test_loading_a_different_nesting_names_the_path_and_changes_nothing(tmp_path):
    outer, *_ = _three_levels()
    outer.save_weights(tmp_path / "w.weights")
    clear_session()
    x = Input(shape=(6,))
    inner = Model(x, Dense(7, activation='tanh')(x))                      # 7 units, not 5
    y = Input(shape=(6,))
    middle = Model(y, Dense(4, activation='relu')(inner(y)))
    head = Sequential([Dense(3, input_dim=8, activation='tanh'), Dropout(0.1)])
    a, b = Input(shape=(6,)), Input(shape=(6,))
    other = Model([a, b], Dense(1)(head(merge([middle(a), middle(b)], mode='concat'))))
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"Layer 'model_2/model_1/dense_1' weight 'kernel': "
                       r"the file has shape \(6, 5\), the model expects \(6, 7\)"):
        other.load_weights(tmp_path / "w.weights")
    for w0, w1 in zip(before, other.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_a_layer_shared_by_a_nested_model_and_its_outer_model_is_stored_once(tmp_path):
    x = Input(shape=(4,))
    shared = Dense(4, activation='tanh')
    inner = Model(x, shared(x))                    # model_1 holds dense_1 ...
    z = Input(shape=(4,))
    out = Dense(2)(shared(inner(z)))               # ... and the outer model uses it directly
    outer = Model(z, out)
    data = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    want = outer.predict(data)
    outer.save_weights(tmp_path / "w.weights")
    with safe_open(str(tmp_path / "w.weights"), framework="np") as f:
        keys = sorted(f.keys())
    assert len(keys) == 4                          # dense_1 once, dense_2
    assert "dense_2/kernel" in keys
    outer.set_weights([w + 1 for w in outer.get_weights()])
    outer.load_weights(tmp_path / "w.weights")
    np.testing.assert_array_equal(outer.predict(data), want)


def test_time_distributed_model_weights_round_trip(tmp_path):
    def build(seed):
        clear_session()
        kcc.utils.set_random_seed(seed)
        x = Input(shape=(6,))
        frame_model = Model(x, Dense(3, activation='softmax')(Dense(5, activation='relu')(x)))
        seq = Input(shape=(4, 6))
        return Model(seq, TimeDistributed(frame_model)(seq))

    video = build(0)
    data = np.random.default_rng(0).standard_normal((3, 4, 6)).astype(np.float32)
    want = video.predict(data)
    video.save_weights(tmp_path / "td.weights")
    again = build(1)
    assert not np.allclose(again.predict(data), want)
    again.load_weights(tmp_path / "td.weights")
    np.testing.assert_array_equal(again.predict(data), want)
