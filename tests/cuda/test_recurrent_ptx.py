"""The one-launch recurrences keep each step's state on chip (nvcc's PTX, no GPU needed).

A step's critical path ends with the new state (h, and an LSTM's c; backward, dh and dc)
reaching the next step's product. If a thread stores it to global memory and then reads it
back, the load waits for the store's round trip to L2 on every step (hundreds of cycles,
140 steps a recurrence for W3). The kernels keep the state and the step's gates in shared
memory and store them from there. This test compiles a unit with every fused kernel,
forward and backward (R in registers, or split between registers and shared memory; R in
shared memory; GRU reset_before's phases) at -O3 and fails if any global load in a
recurrence reads an address that the same thread stored to since the last barrier."""
import re
import subprocess

import pytest

from kcc.build.toolchain import CUDA_FLAGS, find_nvcc

pytestmark = pytest.mark.skipif(find_nvcc() is None, reason="nvcc (the CUDA toolkit) is not installed")

_ENTRY = re.compile(r"^\.(?:visible |weak )?\.?entry\s+(\S+)\(", re.M)
_ADDRESS = re.compile(r"\[([^\]]+)\]")


def _entries(ptx: str) -> dict[str, str]:
    starts = [(m.start(), m.group(1)) for m in _ENTRY.finditer(ptx)]
    ends = [s for s, _ in starts[1:]] + [len(ptx)]
    return {name: ptx[s:e] for (s, name), e in zip(starts, ends)}


def reloads(body: str) -> list[str]:
    """Global loads of an address this thread stored to since the last barrier (PTX
    registers are not reassigned between a store and a load of the same expression in
    straight-line code, which is all a step's phase is)."""
    stored: set[str] = set()
    found = []
    for line in body.splitlines():
        op = line.strip().split("\t")[0].split(" ")[0]
        if op.startswith("bar.sync"):
            stored.clear()
        elif op.startswith("st.global"):
            stored.add(_ADDRESS.search(line).group(1).strip())
        elif op.startswith("ld.global") and _ADDRESS.search(line).group(1).strip() in stored:
            found.append(line.strip())
    return found


def test_reloads_finds_a_load_after_a_store():
    body = "\tst.global.f32 \t[%rd42], %f419;\n\tst.shared.f32 \t[%r1], %f387;\n\tld.global.f32 \t%f422, [%rd42];\n"
    assert reloads(body) == ["ld.global.f32 \t%f422, [%rd42];"]
    assert reloads(body.replace("\tst.shared", "\tbar.sync \t0;\n\tst.shared")) == []


@pytest.mark.parametrize("registers, fused", [("1", 5), ("0", 4)])
def test_fused_recurrences_never_read_back_their_state(tmp_path, monkeypatch, registers, fused):
    """KCC_CUDA_RNN_REGISTERS=1: R in registers (LSTM(128): split with shared memory), GRU
    reset_before's two phases in shared memory; =0: every fused kernel in shared memory
    (LSTM(128) is too big for them: per-step launches)."""
    from kcc.layers import GRU, LSTM, Dense, Input, SimpleRNN, concatenate
    from kcc.models import Model
    from kcc.runtime.cuda import cuda_source
    from kcc.runtime.native import include_dir

    x = Input(shape=(3, 4))
    lstm = LSTM(8, return_sequences=True)(x)
    wide = LSTM(128)(lstm)
    gru = GRU(8, return_sequences=True)(x)
    before = GRU(8, reset_after=False, go_backwards=True)(gru)
    rnn = SimpleRNN(8)(x)
    model = Model(x, Dense(1)(concatenate([wide, before, rnn])))
    model.compile(optimizer="rmsprop", loss="mse")

    monkeypatch.setenv("KCC_CUDA_RNN_REGISTERS", registers)
    source = tmp_path / "unit.cu"
    source.write_text(cuda_source(model._native), encoding="utf-8")
    ptx = tmp_path / "unit.ptx"
    flags = [f for f in CUDA_FLAGS if not f.startswith("-Xcompiler")]
    proc = subprocess.run([find_nvcc(), *flags, "-arch=sm_90", "-I", str(include_dir()), "-ptx", str(source),
                           "-o", str(ptx)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr

    kernels = {name: body for name, body in _entries(ptx.read_text()).items()
               if ("team_kernel" in name or "block_kernel" in name) and ("_forward" in name or "_backward" in name)}
    assert len(kernels) == 2 * fused, sorted(kernels)
    for name, body in kernels.items():
        assert reloads(body) == [], f"{name} reads back what it stored this step"


_PTXAS_ENTRY = re.compile(r"Compiling entry function '(\S+)'")
_PTXAS_SPILL = re.compile(r"(\d+) bytes spill stores")
_PTXAS_REGS = re.compile(r"Used (\d+) registers")


def test_register_recurrences_fit_their_blocks_without_spilling(tmp_path):
    """The one-launch kernels with R in registers run G threads a block, each holding as
    much of R as the registers ptxas allows it under __launch_bounds__(G) (less 40, see
    recurrent.cu.j2's UR); ptxas (-O3) must fit each kernel in them with at most a few
    bytes spilled, or a step would wait on local memory for the R it was meant to keep on
    chip."""
    from kcc.layers import GRU, LSTM, Dense, Input, SimpleRNN, concatenate
    from kcc.models import Model
    from kcc.runtime.cuda import cuda_source
    from kcc.runtime.native import include_dir

    x = Input(shape=(3, 4))
    layers = {"lstm_": LSTM(128)(x), "gru_": GRU(136)(x), "simple_rnn_": SimpleRNN(256)(x), "lstm_b": LSTM(100)(x)}
    model = Model(x, Dense(1)(concatenate(list(layers.values()))))
    model.compile(optimizer="rmsprop", loss="mse")
    source = tmp_path / "unit.cu"
    source.write_text(cuda_source(model._native), encoding="utf-8")
    flags = [f for f in CUDA_FLAGS if not f.startswith("-Xcompiler")]
    proc = subprocess.run([find_nvcc(), *flags, "-arch=sm_90", "-I", str(include_dir()), "-Xptxas", "-v",
                           "-cubin", str(source), "-o", str(tmp_path / "unit.cubin")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr

    kernels, name, spill = {}, None, None
    for line in proc.stderr.splitlines():
        if m := _PTXAS_ENTRY.search(line):
            name = m.group(1) if "team_kernel" in m.group(1) else None
        elif name and (m := _PTXAS_SPILL.search(line)):
            spill = int(m.group(1))
        elif name and (m := _PTXAS_REGS.search(line)):
            threads = int(re.search(r"team_kernelINS0_9RegistersILl\d+EEELi(\d+)E", name).group(1))
            kernels[name] = (threads, int(m.group(1)), spill)
    # forward and backward of the four layers (the split ones and LSTM(100), all in registers)
    assert len(kernels) == 8, sorted(kernels)
    for name, (threads, registers, spilled) in kernels.items():
        assert registers * threads <= 65536, f"{name}: {registers} registers x {threads} threads"
        assert spilled <= 16, f"{name} spills {spilled} bytes"
