"""Batch 1 on every core: a batch the runtime does not split lends its threads to the
unit's big products (csrc/include/kcc/parallel.h), which split either the reduction (a
small output from a long input: each worker streams its own rows of the weights, the
partial results summed after) or the output's columns. Both must give what numpy gives,
and what the same model gives on a batch (where the rows are split instead)."""
import numpy as np
import pytest

from kcc.layers import Dense, Input
from kcc.models import Model

CASES = [  # (inputs, units): which split kcc::gemm(run, ...) takes at batch 1
    (2048, 600),      # 600 outputs from 2048 inputs: the reduction is split
    (65536, 16),      # few outputs from a very long input (VQA's 160256 -> 1000 is this shape)
    (256, 8192),      # a wide output: its columns are split
]


@pytest.mark.parametrize("inputs, units", CASES)
def test_dense_at_batch_1_matches_numpy(inputs, units):
    rng = np.random.default_rng(inputs + units)
    inp = Input(shape=(inputs,))
    dense = Dense(units, activation="tanh")
    model = Model(inp, dense(inp))
    w = rng.normal(0, 1 / np.sqrt(inputs), (inputs, units)).astype(np.float32)
    b = rng.normal(0, 0.1, units).astype(np.float32)
    dense.set_weights([w, b])
    x = rng.normal(size=(5, inputs)).astype(np.float32)
    want = np.tanh(x.astype(np.float64) @ w + b)
    for i in range(len(x)):
        got = model.predict(x[i:i + 1], batch_size=1)
        np.testing.assert_allclose(got, want[i:i + 1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(x, batch_size=5), want, rtol=1e-5, atol=1e-5)


def test_thread_count_from_the_environment(monkeypatch):
    """KCC_NUM_THREADS sets the runtime's threads, as it does an exported library's; one
    thread gives the same numbers at batch 1 (no threads lent) as the default."""
    from kcc.runtime.native import default_threads
    monkeypatch.setenv("KCC_NUM_THREADS", "3")
    assert default_threads() == 3
    for bad in ("0", "-2", "two", "2000"):
        monkeypatch.setenv("KCC_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="KCC_NUM_THREADS"):
            default_threads()
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 2048)).astype(np.float32)
    outputs = []
    for threads in ("1", "2"):
        monkeypatch.setenv("KCC_NUM_THREADS", threads)
        inp = Input(shape=(2048,))
        dense = Dense(600)
        model = Model(inp, dense(inp))
        dense.set_weights([np.full((2048, 600), 0.01, np.float32), np.zeros(600, np.float32)])
        model.compile(optimizer="sgd", loss="mse")
        outputs.append(model.predict(x, batch_size=1))
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5)


def test_tall_product_at_batch_1_splits_rows():
    """A Dense over a sequence (200 steps x 512 -> 32): at batch 1 its product is 200 rows
    tall and 32 wide (too big an output for the reduction split), so the workers take
    slices of rows."""
    rng = np.random.default_rng(8)
    inp = Input(shape=(200, 512))
    dense = Dense(32)
    model = Model(inp, dense(inp))
    w = rng.normal(0, 0.05, (512, 32)).astype(np.float32)
    b = rng.normal(0, 0.1, 32).astype(np.float32)
    dense.set_weights([w, b])
    x = rng.normal(size=(2, 200, 512)).astype(np.float32)
    want = x.astype(np.float64) @ w + b
    for i in range(2):
        np.testing.assert_allclose(model.predict(x[i:i + 1], batch_size=1), want[i:i + 1],
                                   rtol=1e-5, atol=1e-5)


def test_every_shard_flushes_denormals(monkeypatch):
    """The runtime computes with denormals flushed to zero (recurrent gradients decaying
    through denormals run several times slower otherwise) on every thread, not only on the
    caller's: a batch split over two threads gives the same numbers in both halves. (The
    halves are big enough that the second thread takes one: tasks go to whichever is free.)"""
    monkeypatch.setenv("KCC_NUM_THREADS", "2")
    inp = Input(shape=(256,))
    dense = Dense(256, use_bias=False)
    model = Model(inp, dense(inp))
    dense.set_weights([np.eye(256, dtype=np.float32)])
    x = np.full((4096, 256), 1e-39, np.float32)   # denormal: read as zero under DAZ
    assert x[0, 0] != 0
    for _ in range(3):
        got = model.predict(x, batch_size=4096)
        assert not got.any(), f"{np.count_nonzero(got.any(axis=1))} rows were computed with denormals"
