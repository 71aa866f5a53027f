"""An export loads its weights file without holding the file in memory: the header is read
and checked, then each weight is read straight into its place. Holding the whole file
first (as the loader did) doubled the peak: the full VQA's 630 MB file took 1.3 GB."""
import shutil

import numpy as np
import pytest
from safetensors.numpy import save_file

from export_builds import C_DIR, run
from kcc.runtime.native import include_dir

BIG = 16 << 20   # floats: 64 MB, far above the process's own noise


@pytest.fixture(scope="module")
def load_memory(tmp_path_factory):
    """tests/export/c/load_memory.cpp: load_file for a hand-written model of two weights."""
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    exe = tmp_path_factory.mktemp("load_memory") / "load_memory"
    run(["g++", "-std=c++17", "-O1", "-pthread", "-I", include_dir(), C_DIR / "load_memory.cpp", "-o", exe])
    return exe


def _weights(path, big, small):
    # "small" first: the loader must not depend on the order of the file's tensors
    save_file({"small": small, "big": big}, str(path),
              metadata={"format": "kcc-export-weights", "version": "1", "model": "two_weights",
                        "fingerprint": "fp-test"})
    return path


def _load(exe, path, big):
    """{'peak_growth_bytes': int, 'big': float, 'small': float} or {'error': text}."""
    out = {}
    for line in run([exe, path, str(big)]).splitlines():
        key, _, value = line.partition(" ")
        if key == "sum":
            name, total = value.split()
            out[name] = float(total)
        else:
            out[key] = value
    return out


def test_load_file_peaks_at_the_weights_size(load_memory, tmp_path):
    rng = np.random.default_rng(0)
    big = rng.standard_normal(BIG).astype(np.float32)
    small = np.arange(16, dtype=np.float32)
    got = _load(load_memory, _weights(tmp_path / "w.safetensors", big, small), BIG)
    assert "error" not in got, got["error"]
    growth, weight_bytes = int(got["peak_growth_bytes"]), BIG * 4
    # the weight block itself and little else (the old loader: twice the file)
    assert 0.9 * weight_bytes < growth < 1.25 * weight_bytes, (growth, weight_bytes)
    assert got["small"] == float(small.sum())
    assert got["big"] == pytest.approx(float(big.astype(np.float64).sum()), rel=1e-9, abs=1e-3)


def test_load_file_refuses_a_file_cut_short_after_the_header(load_memory, tmp_path):
    n = 1024
    path = _weights(tmp_path / "w.safetensors", np.ones(n, np.float32), np.zeros(16, np.float32))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-100])
    got = _load(load_memory, cut, n)
    assert got.get("error", "").startswith("5 weights file"), got
    assert "truncated or corrupt" in got["error"]


def test_load_file_refuses_a_file_shorter_than_its_length_field(load_memory, tmp_path):
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\x10\x00\x00")
    got = _load(load_memory, short, 16)
    assert got.get("error", "").startswith("5 weights file"), got
    assert "too short: 3 bytes" in got["error"]
