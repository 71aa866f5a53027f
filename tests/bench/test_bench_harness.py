"""The benchmark harness still runs (kcc side; torch is a bench-only dependency): every
workload builds and produces an 'ok' JSON record. Speed itself is never asserted here."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("workload,task", [("W1", "infer_b1"), ("W2", "train_b32"),
                                           ("W5", "infer_b1")])
def test_bench_runs_and_records(tmp_path, workload, task):
    out = tmp_path / "r.jsonl"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"),
                           "--workloads", workload, "--frameworks", "kcc", "--tasks", task,
                           "--repeats", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["workload"], r["task"], r["status"]) for r in records] == [(workload, task, "ok")]
    assert records[0]["value"] > 0


def test_inference_only_peers_skip_training_tasks(tmp_path):
    """ort and kcc-export declare supports(): a training task is left out of the run (no
    record, not 'failed'), without starting or importing their framework."""
    out = tmp_path / "r.jsonl"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"),
                           "--workloads", "W2", "--frameworks", "ort,kcc-export",
                           "--tasks", "train_b32", "--repeats", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert out.read_text() == ""
    assert "skipping train_b32" in proc.stderr


def test_kcc_export_peer_times_the_c_library(tmp_path):
    """kcc-export: export W1, build it with CMake, time predict from C: an 'ok' record
    with the GEMM it chose and the library's size."""
    import shutil
    if shutil.which("cmake") is None or shutil.which("cc") is None:
        pytest.skip("needs cmake and a C compiler")
    out = tmp_path / "r.jsonl"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"),
                           "--workloads", "W1", "--frameworks", "kcc-export", "--tasks",
                           "infer_b1", "--repeats", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (rec,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (rec["framework"], rec["mode"], rec["status"]) == ("kcc", "export", "ok"), rec
    assert rec["value"] > 0 and rec["lib_bytes"] > 0 and rec["gemm"]
    assert rec["max_abs_diff_vs_kcc_predict"] < 1e-5
    assert "kcc export" in proc.stdout   # the table next to ORT
