"""Stacking the independent calls of a shared layer into one op on n * k rows
(kcc/passes/stack.py): which calls stack, and that the numbers (predictions, every
gradient, weights after training) are those of the calls run one by one."""
import numpy as np
import pytest

import kcc
from kcc.layers import (LSTM, Conv2D, Dense, Dropout, Embedding, Flatten, Input, MaxPooling2D,
                        add, concatenate)
from kcc.models import Model


def _families(model):
    return [(op.family, op.fold) for op in model._native.graph.ops]


def _compiled(make, stacked, monkeypatch, loss="binary_crossentropy"):
    monkeypatch.setenv("KCC_STACK_SHARED", "1" if stacked else "0")
    kcc.utils.clear_session()       # same layer names in both builds: gradients compare by name
    kcc.utils.set_random_seed(0)
    model = make()
    model.compile("rmsprop", loss)
    return model


def _same_numbers(make, xs, y, monkeypatch, batch_size=4, loss="binary_crossentropy"):
    """Stacked and unstacked builds agree on predict, gradients and two epochs of fit;
    returns the stacked model."""
    models = [_compiled(make, s, monkeypatch, loss) for s in (True, False)]
    p = [m.predict(xs, batch_size=batch_size) for m in models]
    np.testing.assert_allclose(p[0], p[1], rtol=1e-5, atol=1e-6)
    grads = [m._native.gradients(m._x(xs), m._y(y))[1] for m in models]
    assert sorted(grads[0]) == sorted(grads[1])
    for k in grads[0]:
        assert np.abs(grads[1][k]).max() > 0, k
        np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-6, err_msg=k)
    for m in models:
        m.fit(xs, y, batch_size=batch_size, epochs=2, verbose=0, shuffle=False)
    for w0, w1 in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(w0, w1, rtol=1e-4, atol=1e-5)
    return models[0]


def _rng_data(*shapes, n=9):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((n,) + s).astype(np.float32) for s in shapes]
    return xs, rng.integers(0, 2, (n, 1)).astype(np.float32)


def test_shared_lstm_runs_once_on_both_tweets(monkeypatch):
    def make():
        a, b = Input((6, 5)), Input((6, 5))
        shared = LSTM(4)
        return Model([a, b], Dense(1, activation="sigmoid")(concatenate([shared(a), shared(b)])))
    xs, y = _rng_data((6, 5), (6, 5))          # 9 rows in batches of 4: a partial last batch
    m = _same_numbers(make, xs, y, monkeypatch)
    assert _families(m) == [("stack", 1), ("recurrent", 2), ("concat", 1), ("dense", 1)]


def test_shared_vision_model_stacks_as_a_chain_with_one_copy(monkeypatch):
    def make():
        img = Input((1, 9, 9))
        h = Conv2D(4, (3, 3), data_format="channels_first")(img)
        h = Conv2D(4, (3, 3), data_format="channels_first", activation="relu")(h)
        h = Flatten()(MaxPooling2D((2, 2), data_format="channels_first")(h))
        vision = Model(img, h)
        a, b = Input((1, 9, 9)), Input((1, 9, 9))
        return Model([a, b], Dense(1, activation="sigmoid")(concatenate([vision(a), vision(b)])))
    xs, y = _rng_data((1, 9, 9), (1, 9, 9))
    m = _same_numbers(make, xs, y, monkeypatch)
    assert _families(m) == [("stack", 1), ("conv2d", 2), ("conv2d", 2), ("pool2d", 2),
                            ("concat", 1), ("dense", 1)]


def test_three_calls_and_a_call_read_twice(monkeypatch):
    """Block 0 of the stacked output has two readers (its gradient is written, then added
    to), the blocks of the others one. The Dense layers before the calls write straight
    into the blocks of the stacked input, no copy, and read their gradients there."""
    def make():
        a, b, c = Input((3,)), Input((3,)), Input((3,))
        shared = Dense(5, activation="tanh")
        ha, hb, hc = (Dense(3)(t) for t in (a, b, c))
        ya, yb, yc = shared(ha), shared(hb), shared(hc)
        out = Dense(1, activation="sigmoid")(concatenate([add([ya, yb]), yc, Dense(2)(ya)]))
        return Model([a, b, c], out)
    xs, y = _rng_data((3,), (3,), (3,))
    m = _same_numbers(make, xs, y, monkeypatch)
    fam = _families(m)
    assert fam.count(("dense", 3)) == 1 and ("stack", 1) not in fam
    blocks = [v.row_block for v in m._native.graph.values.values() if v.row_block is not None]
    assert sorted(blocks) == [0, 0, 1, 1, 2, 2]


def test_a_layer_called_twice_on_one_tensor(monkeypatch):
    """The stack op reads one value twice: its two gradient blocks add into one."""
    def make():
        x = Input((4,))
        h = Dense(3)(x)
        shared = Dense(2, activation="relu")
        return Model(x, Dense(1, activation="sigmoid")(concatenate([shared(h), Dense(2)(shared(h))])))
    xs, y = _rng_data((4,))
    m = _same_numbers(make, xs, y, monkeypatch)
    assert ("dense", 2) in _families(m) and ("stack", 1) in _families(m)


def test_calls_that_cannot_stack_stay_apart(monkeypatch):
    monkeypatch.setenv("KCC_STACK_SHARED", "1")
    kcc.utils.set_random_seed(0)
    x, a, b = Input((4,)), Input((4,)), Input((4,))
    shared = Dense(4)
    chained = shared(shared(x))                     # one call feeds the other
    out_a = Dense(4, name="to_outputs")             # its calls' outputs are model outputs
    pool = MaxPooling2D((2, 2), data_format="channels_first")
    ia, ib = Input((1, 4, 4)), Input((1, 4, 4))     # weightless, on inputs: a copy for nothing
    drop = Dropout(0.5)
    m = Model([x, a, b, ia, ib],
              [chained, out_a(a), out_a(b), Flatten()(pool(ia)), Flatten()(pool(ib)),
               drop(a), drop(b)])
    m.compile("sgd", "mse")
    assert all(op.fold == 1 for op in m._native.graph.ops)
    assert not any(op.family == "stack" for op in m._native.graph.ops)


def test_integer_inputs_are_not_copied(monkeypatch):
    monkeypatch.setenv("KCC_STACK_SHARED", "1")
    a, b = Input((3,), dtype="int32"), Input((3,), dtype="int32")
    emb = Embedding(10, 2)
    m = Model([a, b], Dense(1)(Flatten()(concatenate([emb(a), emb(b)]))))
    m.compile("sgd", "mse")
    assert [op.family for op in m._native.graph.ops].count("embedding") == 2


def test_on_for_the_gpu_off_for_the_cpu_unless_asked(monkeypatch):
    from kcc.runtime.cuda import cuda_source

    def make():
        a, b = Input((3,)), Input((3,))
        shared = Dense(2)
        return Model([a, b], concatenate([shared(a), shared(b)]))
    assert ("dense", 2) in _families(_compiled(make, True, monkeypatch, "mse"))
    assert ("dense", 2) not in _families(_compiled(make, False, monkeypatch, "mse"))
    monkeypatch.delenv("KCC_STACK_SHARED")
    kcc.utils.clear_session()
    m = make()
    m.compile("sgd", "mse")
    assert ("dense", 2) not in _families(m)
    # the CUDA unit of the same model, as device="cuda" builds it: one Dense on n * 2 rows
    assert "dense_1_forward(stream, dense_1_stacked, dense_1_stack, " in cuda_source(m._native)


@pytest.mark.parametrize("batch_size", [1, 9])
def test_predict_at_any_batch(monkeypatch, batch_size):
    def make():
        a, b = Input((5,)), Input((5,))
        shared = Dense(3, activation="relu")
        return Model([a, b], Dense(1)(concatenate([shared(a), shared(b)])))
    xs, _ = _rng_data((5,), (5,))
    p = [_compiled(make, s, monkeypatch, "mse").predict(xs, batch_size=batch_size)
         for s in (True, False)]
    np.testing.assert_allclose(p[0], p[1], rtol=1e-6, atol=1e-7)


def test_a_dropout_before_the_calls_is_copied_not_written_in_place(monkeypatch):
    """In inference a dropout's output is its input: it cannot write into a block."""
    def make():
        a, b = Input((4,)), Input((4,))
        shared = Dense(3)
        ha, hb = (shared(Dropout(0.5)(Dense(4)(t))) for t in (a, b))
        return Model([a, b], Dense(1, activation="sigmoid")(concatenate([ha, hb])))
    xs, _ = _rng_data((4,), (4,))
    m = _compiled(make, True, monkeypatch)
    assert ("stack", 1) in _families(m) and ("dense", 2) in _families(m)
    p = [m.predict(xs), _compiled(make, False, monkeypatch).predict(xs)]
    np.testing.assert_allclose(p[0], p[1], rtol=1e-6, atol=1e-7)
