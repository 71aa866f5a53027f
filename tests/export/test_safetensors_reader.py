"""The export's safetensors reader (kcc/export/safetensors.h) accepts what safetensors
writes and refuses headers whose tensors overlap, leave gaps or stop short of the data:
a weights file edited that way loaded, and predicted wrong numbers."""
import json
import shutil
import struct

import numpy as np
import pytest
from safetensors.numpy import save_file

from export_builds import C_DIR, run
from kcc.runtime.native import include_dir


def _file(path, header, data):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def _tensor(begin, end, count):
    return {"dtype": "F32", "shape": [count], "data_offsets": [begin, end]}


def test_reader_refuses_overlaps_gaps_and_trailing_bytes(tmp_path):
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    exe = tmp_path / "safetensors_check"
    run(["g++", "-std=c++17", "-O1", "-I", include_dir(), C_DIR / "safetensors_check.cpp", "-o", exe])
    written = tmp_path / "written.safetensors"
    save_file({"a": np.ones((2, 3), np.float32), "b": np.zeros(4, np.float32),
               "empty": np.zeros(0, np.float32)}, str(written), metadata={"k": "v"})
    data = bytes(40)
    cases = {
        written: "ok 3",
        _file(tmp_path / "reordered.safetensors", {"b": _tensor(24, 40, 4), "a": _tensor(0, 24, 6)}, data): "ok 2",
        # b reads a's last 8 bytes
        _file(tmp_path / "overlap.safetensors", {"a": _tensor(0, 24, 6), "b": _tensor(16, 32, 4)}, data[:32]):
            "error corrupt: two tensors share the bytes at offset 16 of the data",
        _file(tmp_path / "gap.safetensors", {"a": _tensor(0, 16, 4), "b": _tensor(24, 40, 4)}, data):
            "error corrupt: no tensor holds the bytes at offset 16 of the data",
        _file(tmp_path / "late_start.safetensors", {"a": _tensor(8, 40, 8)}, data):
            "error corrupt: no tensor holds the bytes at offset 0 of the data",
        _file(tmp_path / "trailing.safetensors", {"a": _tensor(0, 32, 8)}, data):
            "error corrupt: 8 bytes after the last tensor",
        _file(tmp_path / "same_range.safetensors", {"a": _tensor(0, 40, 10), "b": _tensor(0, 40, 10)}, data):
            "error corrupt: two tensors share the bytes at offset 0 of the data",
    }
    out = run([exe, *cases]).splitlines()
    assert out == list(cases.values())
