"""Embedding: Keras 1 and 2/3 arguments, shapes, errors, the id bounds the engine checks
before native code, forward against numpy, and the scatter-add gradient (repeated ids,
a table shared by two inputs) against float64 central differences."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "numerics"))
import numerics_ref as ref  # noqa: E402

from kcc import initializers  # noqa: E402
from kcc.layers import Dense, Embedding, Flatten, Input, add, concatenate  # noqa: E402
from kcc.models import Model  # noqa: E402
from kcc.optimizers import RMSprop  # noqa: E402
from kcc.utils import clear_session  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    yield


# -- arguments and shapes ---------------------------------------------------------------------
def test_guide_shapes_and_weight():
    ids = Input(shape=(100,), dtype="int32", name="main_input")
    emb = Embedding(output_dim=512, input_dim=10000, input_length=100)
    x = emb(ids)
    assert x.shape == (None, 100, 512) and x.dtype == "float32" and emb.name == "embedding_1"
    assert [(w.name, w.shape) for w in emb.weights] == [("embeddings", (10000, 512))]
    assert emb.count_params() == 5120000
    assert isinstance(emb.embeddings_initializer, initializers.RandomUniform)
    values = emb.embeddings.value
    assert values.min() >= -0.05 and values.max() <= 0.05 and values.std() > 0.02
    assert emb._batch_input_shape == (None, 100)           # input_length sets input_shape


def test_keras1_and_keras3_spellings():
    emb = Embedding(7, 3, init="zeros")
    assert isinstance(emb.embeddings_initializer, initializers.Zeros)
    emb2 = Embedding(input_dim=7, output_dim=3, embeddings_initializer="ones")
    assert isinstance(emb2.embeddings_initializer, initializers.Ones)
    # any rank of ids, any length: (None, 2, 5) -> (None, 2, 5, 3); a later call may differ
    assert emb(Input(shape=(2, 5), dtype="int32")).shape == (None, 2, 5, 3)
    assert emb(Input(shape=(4,), dtype="int32")).shape == (None, 4, 3)
    assert emb.get_config()["input_dim"] == 7


def test_pretrained_table_from_weights():
    """Keras's pretrained-vectors idiom: Embedding(V, D, weights=[matrix], trainable=False)."""
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    emb = Embedding(4, 3, weights=[table], trainable=False)
    ids = Input(shape=(2,), dtype="int32")
    model = Model(ids, emb(ids))
    assert emb.trainable_weights == [] and len(emb.non_trainable_weights) == 1
    np.testing.assert_array_equal(model.predict(np.array([[3, 0]])), table[[[3, 0]]])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"input_dim": 0, "output_dim": 3}, ValueError, r"input_dim=0"),
    ({"input_dim": 5, "output_dim": -1}, ValueError, r"output_dim=-1"),
    ({"input_dim": 5}, TypeError, r"needs `input_dim`.*and `output_dim`"),
    ({"input_dim": 5, "output_dim": 2, "input_length": 0}, ValueError, r"input_length=0"),
    ({"input_dim": 5, "output_dim": 2, "W_regularizer": "l2", "embeddings_regularizer": "l1"},
     TypeError, r"`embeddings_regularizer` or its Keras 1 name `W_regularizer`"),
    ({"input_dim": 5, "output_dim": 2, "init": "ones", "embeddings_initializer": "ones"},
     TypeError, r"`embeddings_initializer` or its Keras 1 name `init`"),
])
def test_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        Embedding(**kwargs)


def test_mask_zero_is_in_the_config():
    """mask_zero=True is supported (tests/layers/test_masks.py) and round-trips its config."""
    emb = Embedding(10, 4, mask_zero=True)
    assert emb.get_config()["mask_zero"] is True and emb.supports_masking
    assert Embedding.from_config(emb.get_config()).mask_zero is True


def test_input_length_must_match_the_input():
    emb = Embedding(10, 4, input_length=100)
    with pytest.raises(ValueError, match=r"Layer embedding_1 \(Embedding\) has input_length=100, "
                       r"so it expects inputs of shape \(None, 100\); received an input of "
                       r"shape \(None, 50\)"):
        emb(Input(shape=(50,), dtype="int32"))
    with pytest.raises(ValueError, match=r"input_length=100"):
        emb(Input(shape=(100, 2), dtype="int32"))
    assert emb(Input(shape=(100,), dtype="int32")).shape == (None, 100, 4)


def test_ids_are_an_int32_input_or_a_view_of_one():
    with pytest.raises(ValueError, match=r"Layer embedding_1 \(Embedding\) reads integer ids: its "
                       r"input must be an Input\(\.\.\., dtype='int32'\); received a float32"):
        Embedding(10, 4)(Input(shape=(5,)))
    # ids through a view (Flatten, Reshape) are checked on the model input they view
    ids = Input(shape=(2, 3), dtype="int32", name="ids")
    out = Dense(1)(Flatten()(Embedding(10, 4, name="emb")(Flatten()(ids))))
    model = Model(ids, out)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"Layer emb has input_dim=10, so the ids in input 'ids' "
                       r"must lie in \[0, 10\); received ids from 0 to 10"):
        model.predict(np.arange(12).reshape(2, 2, 3) % 11)


# -- native code ----------------------------------------------------------------------------------
def _model(vocab=7, dim=3, length=4):
    ids = Input(shape=(length,), dtype="int32", name="ids")
    emb = Embedding(vocab, dim, name="emb")
    out = Dense(2, name="head")(Flatten()(emb(ids)))
    return Model(ids, out), emb


def test_forward_gathers_rows():
    ids = Input(shape=(2, 3), dtype="int32")
    emb = Embedding(6, 4)
    model = Model(ids, emb(ids))
    table = np.arange(24, dtype=np.float32).reshape(6, 4)
    emb.set_weights([table])
    x = np.array([[[0, 5, 5], [1, 2, 3]], [[4, 4, 0], [5, 1, 2]]])
    np.testing.assert_array_equal(model.predict(x), table[x])
    np.testing.assert_array_equal(model.predict(x.astype(np.float32)), table[x])   # whole floats


def test_out_of_range_ids_are_rejected_before_native_code():
    model, _ = _model(vocab=7)
    model.compile(optimizer="sgd", loss="mse")
    y = np.zeros((2, 2), np.float32)
    msg = (r"Layer emb has input_dim=7, so the ids in input 'ids' must lie in \[0, 7\); "
           r"received ids from {} to {}")
    with pytest.raises(ValueError, match=msg.format(0, 7)):
        model.fit(np.array([[0, 1, 2, 7], [1, 1, 1, 1]]), y, verbose=0)
    with pytest.raises(ValueError, match=msg.format(-1, 3)):
        model.predict(np.array([[0, 1, 2, 3], [-1, 1, 1, 1]]))
    with pytest.raises(ValueError, match=msg.format(0, 100)):
        model.evaluate(np.array([[0, 1, 2, 3], [100, 1, 1, 1]]), y, verbose=0)
    with pytest.raises(ValueError, match=r"non-integer floats"):
        model.predict(np.array([[0, 1.5, 2, 3]]))


def test_gradient_scatter_adds_repeated_ids():
    model, _ = _model()
    model.compile(optimizer="sgd", loss="mse")
    ref.randomize(model, np.random.default_rng(1))
    # id 3 occurs 4 times (twice in one row), ids 0 and 6 never: their rows get zero
    x = np.array([[3, 1, 3, 2], [5, 3, 4, 1], [2, 2, 3, 5]], np.int32)
    y = np.random.default_rng(2).normal(size=(3, 2)).astype(np.float32)

    def forward(p):
        return [ref.dense(p, "head", p["emb/embeddings"][x].reshape(len(x), -1))]

    ref.check_gradients(model, x, y, forward, ["mean_squared_error"], what="embedding")
    _, grads = ref.native_gradients(model, x, y)
    assert np.all(grads["emb/embeddings"][[0, 6]] == 0)
    assert np.all(grads["emb/embeddings"][[1, 2, 3, 4, 5]] != 0)


def test_gradient_over_thread_shards_matches_numpy_twice():
    """A batch big enough to split across threads (each shard zeroes its own table
    gradient, then they are summed), run twice: nothing stale carries over."""
    model, _ = _model(vocab=9, dim=3, length=5)
    model.compile(optimizer="sgd", loss="mse")
    p = ref.randomize(model, np.random.default_rng(6))
    rng = np.random.default_rng(7)
    x = rng.integers(0, 9, (96, 5))
    y = rng.normal(size=(96, 2)).astype(np.float32)
    flat = p["emb/embeddings"][x].reshape(96, -1)
    g = ref.loss_grad("mean_squared_error", y, ref.dense(p, "head", flat))
    table = np.zeros_like(p["emb/embeddings"])
    np.add.at(table, x, (g @ p["head/kernel"].T).reshape(96, 5, 3))
    want = {"emb/embeddings": table, "head/kernel": flat.T @ g, "head/bias": g.sum(axis=0)}
    for _ in range(2):
        _, grads = ref.native_gradients(model, x, y)
        ref.assert_grads_close(grads, want, rtol=1e-4, what="sharded batch")


def test_gradient_of_a_table_shared_by_two_inputs():
    """One Embedding on two inputs: the second use adds to the first's gradient."""
    a = Input(shape=(3,), dtype="int32", name="a")
    b = Input(shape=(2,), dtype="int32", name="b")
    emb = Embedding(5, 2, name="emb")
    ea, eb = Flatten()(emb(a)), Flatten()(emb(b))
    out = Dense(1, name="head")(concatenate([ea, eb, add([Flatten()(emb(a)), ea])]))
    model = Model([a, b], out)
    model.compile(optimizer="sgd", loss="mse")
    ref.randomize(model, np.random.default_rng(3))
    rng = np.random.default_rng(4)
    xa, xb = rng.integers(0, 5, (6, 3)), rng.integers(0, 5, (6, 2))
    y = rng.normal(size=(6, 1)).astype(np.float32)

    def forward(p):
        t = p["emb/embeddings"]
        va, vb = t[xa].reshape(6, -1), t[xb].reshape(6, -1)
        return [ref.dense(p, "head", np.concatenate([va, vb, 2 * va], axis=1))]

    ref.check_gradients(model, [xa, xb], y, forward, ["mean_squared_error"], what="shared table")


def test_frozen_table_gets_no_gradient_and_stays_put():
    model, emb = _model()
    emb.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = emb.get_weights()[0].copy()
    x = np.array([[0, 1, 2, 3]] * 4, np.int32)
    y = np.ones((4, 2), np.float32)
    _, grads = ref.native_gradients(model, x, y)
    assert "emb/embeddings" not in grads
    model.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_array_equal(emb.get_weights()[0], before)


def test_learns_a_bag_of_words_target():
    """The label is whether id 1 occurs in the sequence: only the table can learn it."""
    from kcc.utils import set_random_seed
    set_random_seed(5)                    # a fixed start: the test must not depend on luck
    rng = np.random.default_rng(5)
    x = rng.integers(2, 20, (512, 6))
    pos = rng.random(512) < 0.5
    x[pos, rng.integers(0, 6, pos.sum())] = 1
    y = pos.astype(np.float32)[:, None]
    ids = Input(shape=(6,), dtype="int32")
    h = Flatten()(Embedding(20, 4)(ids))
    model = Model(ids, Dense(1, activation="sigmoid")(h))
    model.compile(optimizer=RMSprop(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert hist.history["accuracy"][-1] > 0.95
