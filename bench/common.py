"""Shared helpers for the benchmarks: data, timing, result records, the ratio table.

Everything here follows ../shared/bench-workloads.md: data is made once, before
timing, from numpy `default_rng(0)`; training is timed epoch by epoch after one
warm-up epoch; inference is timed call by call after warm-up calls; the value is a
median. This module imports no framework, so the parent process of run.py stays
light and every framework runs in its own child process.
"""

import gc
import json
import statistics
import sys
import time

from dataclasses import dataclass

import numpy as np

SEED = 0


# ---------------------------------------------------------------- tasks and shared rules

@dataclass(frozen=True)
class Train:
    """Training throughput: samples/s over one epoch of `n` samples."""
    batch_size: int
    n: int
    unit: str = "samples/s"


@dataclass(frozen=True)
class Infer:
    """Inference latency of one call on a batch (a workload may report samples/s)."""
    batch_size: int
    warmup: int            # calls before timing
    calls_per_repeat: int  # timed calls = calls_per_repeat * repeats
    unit: str = "ms"


# Every workload trains with RMSprop(lr=0.001) at Keras' defaults (bench-workloads.md).
LEARNING_RATE = 1e-3
RHO = 0.9          # Keras' RMSprop rho == torch's alpha
EPSILON = 1e-7     # Keras' RMSprop epsilon


# ---------------------------------------------------------------- data

def float_inputs(shape, rng):
    """Standard normal float32 inputs."""
    return rng.standard_normal(shape, dtype=np.float32)


def onehot_labels(n, rng, classes=10):
    """One-hot labels over `classes`, float32, shape (n, classes)."""
    return np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]


def classification_data(n, features, classes=10):
    """(x, y) for a softmax model: x (n, features) normal, y (n, classes) one-hot."""
    rng = np.random.default_rng(SEED)
    x = float_inputs((n, features), rng)
    y = onehot_labels(n, rng, classes)
    return x, y


# ---------------------------------------------------------------- timing

def median(values):
    return statistics.median(values)


def time_epochs(run_epoch, repeats):
    """Run one warm-up epoch, then `repeats` timed ones.

    Returns (warmup_s, [epoch_s, ...]). `run_epoch()` must run exactly one epoch.
    """
    gc.collect()
    t0 = time.perf_counter()
    run_epoch()
    warmup_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        run_epoch()
        times.append(time.perf_counter() - t0)
    return warmup_s, times


def time_calls(call, warmup, calls):
    """Latency of `call()` in seconds, one timing per call, after `warmup` calls."""
    for _ in range(warmup):
        call()
    gc.collect()
    out = []
    clock = time.perf_counter
    for _ in range(calls):
        t0 = clock()
        call()
        out.append(clock() - t0)
    return out


def latency_summary(latencies_s, repeats):
    """(median ms over all calls, [median ms of each of `repeats` equal blocks])."""
    ms = [t * 1e3 for t in latencies_s]
    block = max(1, len(ms) // repeats)
    blocks = [median(ms[i:i + block]) for i in range(0, block * repeats, block)]
    return median(ms), blocks


# ---------------------------------------------------------------- records

def record(workload, task, framework, mode, value, unit, samples, **extra):
    """One result line (status ok). `extra` adds fields such as compile_s."""
    rec = {
        "workload": workload, "task": task, "framework": framework, "mode": mode,
        "value": value, "unit": unit, "samples": samples, "status": "ok",
    }
    rec.update(extra)
    return rec


def infer_record(workload, name, framework, mode, task, latencies_s, repeats, **extra):
    """Record for an inference task: latency in ms, or samples/s = batch / latency.

    `samples` holds one median per block of calls (`repeats` blocks), so the raw
    repeats stay short; `value` is the median over every timed call.
    """
    med_ms, blocks_ms = latency_summary(latencies_s, repeats)
    extra = dict(batch_size=task.batch_size, calls=len(latencies_s),
                 latency_ms=round(med_ms, 4), **extra)
    if task.unit == "samples/s":
        per_s = lambda ms: round(task.batch_size / (ms / 1e3), 1)
        return record(workload, name, framework, mode, per_s(med_ms), task.unit,
                      [per_s(b) for b in blocks_ms], **extra)
    return record(workload, name, framework, mode, round(med_ms, 4), "ms",
                  [round(b, 4) for b in blocks_ms], **extra)


def failed(workload, task, framework, mode, unit, error, status="failed"):
    """One result line for a task that did not produce a number."""
    return {
        "workload": workload, "task": task, "framework": framework, "mode": mode,
        "value": None, "unit": unit, "samples": [], "status": status,
        "error": error,
    }


def describe_error(exc):
    """'ExcType: message' on one line, short enough for a JSON line."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " | ")
    return text[:500]


def append_jsonl(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- table

def _fmt(rec):
    if rec is None:
        return "-"
    if rec["status"] != "ok":
        return rec["status"]
    v, unit = rec["value"], rec["unit"]
    if unit == "samples/s":
        return f"{v:,.0f}"
    return f"{v:.4g}" if unit == "ms" else f"{v:.3g}"


def _ratio(kcc, torch):
    """> 1 means kcc is faster: throughput kcc/torch, latency torch/kcc."""
    if not kcc or not torch or kcc["status"] != "ok" or torch["status"] != "ok":
        return "-"
    if kcc["unit"] == "samples/s":
        return f"{kcc['value'] / torch['value']:.2f}x"
    return f"{torch['value'] / kcc['value']:.2f}x"


def table(records, baseline=("torch", "eager"), ours=("kcc", "native")):
    """Markdown table: one row per (workload, task), kcc (`ours`: native, or cuda) next
    to the baseline. Rows neither side ran are left out."""
    by_key = {}
    order = []
    for r in records:
        key = (r["workload"], r["task"])
        if key not in by_key:
            by_key[key] = {}
            order.append(key)
        by_key[key][(r["framework"], r["mode"])] = r
    base_name = f"{baseline[0]} {baseline[1]}"
    lines = [
        f"| workload | task | unit | kcc {ours[1]} | {base_name} "
        f"| kcc vs {baseline[0]} (>1 = kcc faster) |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for key in order:
        runs = by_key[key]
        kcc = runs.get(ours)
        base = runs.get(baseline)
        if kcc is None and base is None:
            continue
        unit = (kcc or base or next(iter(runs.values())))["unit"]
        lines.append(f"| {key[0]} | {key[1]} | {unit} | {_fmt(kcc)} | {_fmt(base)} "
                     f"| {_ratio(kcc, base)} |")
    lines.append("ratio: samples/s as kcc / torch; ms as torch_ms / kcc_ms; "
                 "s (kcc build) has no peer.")
    return "\n".join(lines)


# Inference next to ONNX Runtime: (column title, (framework, mode)), then the ratios.
INFER_COLUMNS = (("kcc native", ("kcc", "native")), ("kcc export", ("kcc", "export")),
                 ("torch eager", ("torch", "eager")), ("ort cpu", ("ort", "cpu")))
INFER_RATIOS = (("kcc export vs ort", ("kcc", "export"), ("ort", "cpu")),
                ("kcc native vs ort", ("kcc", "native"), ("ort", "cpu")))


def infer_table(records, columns=INFER_COLUMNS, ratios=INFER_RATIOS):
    """Markdown table of the inference tasks: kcc native, kcc's exported C library
    (kcc-export), torch eager and ONNX Runtime side by side, with ratios against ORT
    (> 1 = kcc faster). Rows where none of the columns ran are left out. Records name the
    framework ('kcc') and the mode ('export'); results files written before run.py did so
    for failed records too may say 'kcc-export', which lands in the same column."""
    by_key, order = {}, []
    for r in records:
        if not r["task"].startswith("infer"):
            continue
        key = (r["workload"], r["task"])
        if key not in by_key:
            by_key[key] = {}
            order.append(key)
        fw = r["framework"].split("-")[0]   # 'kcc-export' -> 'kcc', as in ok records
        by_key[key].setdefault((fw, r["mode"]), r)
    head = [c for c, _ in columns] + [f"{title} (>1 = kcc faster)" for title, _, _ in ratios]
    lines = ["| workload | task | unit | " + " | ".join(head) + " |",
             "| --- | --- | --- |" + " ---: |" * len(head)]
    for key in order:
        runs = by_key[key]
        cells = [runs.get(k) for _, k in columns]
        if all(c is None for c in cells):
            continue
        unit = next(c for c in cells if c is not None)["unit"]
        row = [_fmt(c) for c in cells] + [_ratio(runs.get(a), runs.get(b)) for _, a, b in ratios]
        lines.append(f"| {key[0]} | {key[1]} | {unit} | " + " | ".join(row) + " |")
    lines.append("ratio vs ort: ms as ort_ms / kcc_ms; samples/s as kcc / ort.")
    return "\n".join(lines)


def cpu_busy(interval_s=0.3):
    """Fraction of all cores busy over `interval_s`, from /proc/stat (None off Linux).

    Taken right before a child starts, it shows other work on the machine, which the
    load average (a minute-long trail, our own last child included) does not.
    """
    def snapshot():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle
    try:
        total0, idle0 = snapshot()
        time.sleep(interval_s)
        total1, idle1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return round(1.0 - (idle1 - idle0) / total, 2) if total > 0 else None


def log(msg):
    print(msg, file=sys.stderr, flush=True)
