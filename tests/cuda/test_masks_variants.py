"""Masked recurrences on every CUDA recurrent kernel variant: the one-launch kernels with R in
registers (default), with R in shared memory (KCC_CUDA_RNN_REGISTERS=0) and the per-step
launches (KCC_CUDA_FUSED_RNN=0), GRU without reset_after in its own two-phase kernels: the
generated source reads the mask in each, and 2 epochs of fit give the CPU unit's losses and
weights (on the GPU, or host-emulated: gpu.cuda_device)."""
import numpy as np
import pytest

import kcc
from gpu import cuda_device  # noqa: F401 (a fixture)
from kcc.layers import GRU, LSTM, Bidirectional, Concatenate, Dense, Embedding, Input, SimpleRNN
from kcc.models import Model
from kcc.runtime.cuda import cuda_source

pytestmark = [pytest.mark.cuda]


def _model():
    i = Input(shape=(6,), dtype="int32")
    e = Embedding(11, 3, mask_zero=True)(i)
    s = LSTM(4, return_sequences=True)(e)
    s = GRU(4, return_sequences=True, go_backwards=True)(s)
    s = GRU(3, reset_after=False, return_sequences=True, go_backwards=True)(s)
    b = Bidirectional(SimpleRNN(3, return_sequences=True))(e)
    y = Dense(1, activation="sigmoid")(Concatenate()([SimpleRNN(2)(s), GRU(2)(b)]))
    return Model(i, y)


def _data(n=24):
    rng = np.random.default_rng(5)
    x = rng.integers(1, 11, size=(n, 6)).astype(np.int32)
    lengths = rng.integers(0, 7, n)
    x[np.arange(6)[None, :] >= lengths[:, None]] = 0      # right-padded, some rows empty
    x[::5, :2] = 0                                          # and some left-padded
    return x, (x.sum(axis=1, keepdims=True) > 25).astype(np.float32)


def _fit(device):
    kcc.utils.set_random_seed(7)
    model = _model()
    model.compile(optimizer="adam", loss="binary_crossentropy", device=device)
    hist = model.fit(*_data(), batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model, hist.history["loss"], model.get_weights()


@pytest.mark.parametrize("fused, registers, kernels", [
    ("1", "1", ("each_team<", 12)), ("1", "0", ("each_block(", 14)), ("0", "1", ("each_block(", 0))],
    ids=["registers", "shared_memory", "per_step"])
def test_masked_training_matches_the_cpu(monkeypatch, cuda_device, fused, registers, kernels):
    _, cpu_loss, cpu_weights = _fit("cpu")
    monkeypatch.setenv("KCC_CUDA_FUSED_RNN", fused)
    monkeypatch.setenv("KCC_CUDA_RNN_REGISTERS", registers)
    model, loss, weights = _fit("cuda")
    source = cuda_source(model._native)
    assert source.count(kernels[0]) == kernels[1], "not the kernel variant this case tests"
    assert source.count("M[r] == 0.0f") >= 12          # every layer reads its mask both ways
    np.testing.assert_allclose(loss, cpu_loss, rtol=1e-5)
    for a, b in zip(weights, cpu_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
