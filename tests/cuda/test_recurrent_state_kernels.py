"""Initial and final states in every recurrent kernel the CUDA unit can choose, host-emulated
against the C++ unit (predict, gradients, a train step, evaluate; test_emulated.py's run):
the one-launch kernels with R in shared memory (KCC_CUDA_RNN_REGISTERS=0), the per-step
launches (KCC_CUDA_FUSED_RNN=0, and where R fits no one-launch kernel: LSTM(140)). The
register kernels run in test_emulated.py's case recurrent_encoder_decoder_states."""
import numpy as np
import pytest

from cases import make_case
from kcc import optimizers
from kcc.layers import LSTM, Concatenate, Dense, Input, SimpleRNN
from kcc.models import Model
from test_emulated import test_emulated_cuda_unit_matches_cpu as _matches


def _large_units(rng):
    # R (313 KB) fits neither one-launch kernel: the per-step path inside their fallback
    x, s0 = Input(shape=(3, 4)), Input(shape=(140,))
    _, h, c = LSTM(140, return_state=True, go_backwards=True)(x, initial_state=[s0, s0])
    r, rh = SimpleRNN(3, return_state=True)(x)
    y = Dense(2)(Concatenate()([LSTM(140)(x, initial_state=[h, c]), r, rh]))
    return dict(model=Model([x, s0], y),
                x=[rng.standard_normal((3, 3, 4)).astype(np.float32),
                   rng.standard_normal((3, 140)).astype(np.float32)],
                y=[rng.standard_normal((3, 2)).astype(np.float32)], loss="mse",
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=[])


@pytest.mark.parametrize("option, make", [
    ("KCC_CUDA_RNN_REGISTERS", None), ("KCC_CUDA_FUSED_RNN", None), (None, _large_units)],
    ids=["shared_memory", "per_step", "large_units"])
def test_state_kernels_match_cpu(monkeypatch, option, make):
    from kcc.runtime.cuda import cuda_source, emulated_unit
    if option:
        monkeypatch.setenv(option, "0")
    case = make_case("recurrent_encoder_decoder_states", make)
    model = case["model"]
    model.compile(optimizer=case["optimizer"], loss=case["loss"], metrics=case["metrics"])
    native = model._native
    source = cuda_source(native)
    # the kernels this run emulates: shared memory only; per-step only; the large LSTMs'
    # (their one-launch kernels compile, and do not fit) beside a SimpleRNN(3)'s registers
    assert ("each_team<" in source) == (option is None)
    assert ("each_block(" in source) == (option != "KCC_CUDA_FUSED_RNN")
    name = f"states_{option or 'large'}"
    _matches({name: (case, native, emulated_unit(native))}, name)
