"""KCC_CUDA_FUSED_RNN=0 and KCC_CUDA_SPLIT_K=0 turn off the one-launch recurrences and the
split-K GEMMs, KCC_CUDA_RNN_REGISTERS=0 keeps the one-launch recurrences' R in shared memory
rather than in registers (to measure what each gains, or to fall back from it): the
generated CUDA source changes as they say, and a model trains the same either way (on the
GPU, or host-emulated: gpu.cuda_device)."""
import re

import numpy as np
import pytest

import kcc
from gpu import cuda_device  # noqa: F401 (a fixture)
from kcc.layers import GRU, LSTM, Concatenate, Dense, Input, SimpleRNN
from kcc.models import Model
from kcc.runtime.cuda import cuda_source

pytestmark = [pytest.mark.cuda]


def _model():
    x = Input(shape=(6, 3))
    a = LSTM(5)(x)
    b = GRU(4, reset_after=False)(x)
    c = GRU(3, go_backwards=True)(x)
    d = SimpleRNN(2)(x)
    y = Dense(1, activation="sigmoid")(Concatenate()([a, b, c, d]))
    return Model(x, y)


def _data(n=40):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, 6, 3)).astype(np.float32)
    # (40 rows of 6 steps: too short a reduction to split; the source check covers split-K)
    return x, (x.sum(axis=(1, 2))[:, None] > 0).astype(np.float32)


def _fixed_scratch(source):
    """The floats of fixed scratch (split-K partial results) a CUDA unit reserves."""
    return {int(v) for v in re.findall(r"// (\d+) floats of fixed scratch", source)}


def test_the_options_change_the_generated_source(monkeypatch):
    model = _model()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    on = cuda_source(model._native)
    monkeypatch.setenv("KCC_CUDA_FUSED_RNN", "0")
    no_fused = cuda_source(model._native)
    monkeypatch.setenv("KCC_CUDA_FUSED_RNN", "1")
    monkeypatch.setenv("KCC_CUDA_SPLIT_K", "0")
    no_split = cuda_source(model._native)
    monkeypatch.setenv("KCC_CUDA_SPLIT_K", "1")
    monkeypatch.setenv("KCC_CUDA_RNN_REGISTERS", "0")
    shared_r = cuda_source(model._native)
    # forward and backward: the LSTM's, GRU's and SimpleRNN's R in registers (each_team), the
    # reset-before GRU's in shared memory (each_block); all eight in shared memory under
    # KCC_CUDA_RNN_REGISTERS=0
    assert on.count("each_team<") == 6 and on.count("each_block(") == 2
    assert shared_r.count("each_team<") == 0 and shared_r.count("each_block(") == 8
    assert "each_block" not in no_fused and "each_team" not in no_fused
    assert min(_fixed_scratch(on)) > 0 and _fixed_scratch(no_split) == {0}   # no room: never splits


def test_training_is_the_same_with_both_options_off(monkeypatch, cuda_device):
    x, y = _data()
    runs = []
    for value, registers in (("1", "1"), ("0", "1"), ("1", "0")):
        monkeypatch.setenv("KCC_CUDA_FUSED_RNN", value)
        monkeypatch.setenv("KCC_CUDA_SPLIT_K", value)
        monkeypatch.setenv("KCC_CUDA_RNN_REGISTERS", registers)
        kcc.utils.set_random_seed(4)
        model = _model()
        model.compile(optimizer="adam", loss="binary_crossentropy", device="cuda")
        hist = model.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
        runs.append((hist.history["loss"], model.get_weights()))
    for other in runs[1:]:
        np.testing.assert_allclose(other[0], runs[0][0], rtol=1e-5)
        for a, b in zip(other[1], runs[0][1]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
