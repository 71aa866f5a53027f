"""Benchmark kcc against its peers on the workloads of ../shared/bench-workloads.md.

    python bench/run.py [--workloads W1] [--frameworks kcc,torch] [--repeats 5]
                        [--tasks train_b32,...] [--out bench/out/results.jsonl]
    python bench/run.py --report bench/out/results.jsonl     # table of a past run

Each framework runs in its own child process (this script again, with --child),
one after the other, never at the same time, so they do not fight over threads or
allocators. A child appends one JSON line per task to a scratch file; a task that
raises becomes a 'failed' line, and a child that dies or hangs turns its missing
tasks into 'failed' / 'timeout' lines, so one framework never stops the others.
kcc's build_cold_s / build_cached_s each take a fresh process per sample.
"""

import argparse
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import common
import w1_mlp
import w2_headline
import w3_tweets
import w4_digits
import w5_inception
import w6_vqa

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = {"W1": w1_mlp, "W2": w2_headline, "W3": w3_tweets, "W4": w4_digits,
             "W5": w5_inception, "W6": w6_vqa}
PEERS = {"kcc": "peers.kcc_native", "torch": "peers.torch_eager",
         "torch-cl": "peers.torch_eager_cl",    # torch-cl: image workloads (W4-W6) only
         "kcc-cuda": "peers.kcc_cuda", "torch-cuda": "peers.torch_cuda",   # on a GPU (bench/gpu.sh)
         "ort": "peers.ort",                  # ONNX Runtime CPU: inference tasks only
         "kcc-export": "peers.kcc_export"}    # kcc's exported C library, timed from C: inference only
MODES = {"kcc": "native", "torch": "eager", "torch-cl": "eager-cl", "kcc-cuda": "cuda",
         "torch-cuda": "cuda-eager", "ort": "cpu", "kcc-export": "export"}
BUILD_SAMPLES = 3
BUSY_CPU = 0.2  # share of all cores busy just before a child, above which we warn


def record_name(framework):
    """The framework field of a record: "torch-cl", "kcc-cuda", "kcc-export" run torch or
    kcc in another mode, so their records (failed ones too) say "torch" / "kcc" and the
    mode tells them apart, as the peers' own records do."""
    return framework.split("-")[0]


# ---------------------------------------------------------------- child side

def child_main(args):
    """Run `args.tasks` of one workload for one framework; append records to a file."""
    framework = args.child
    workload = WORKLOADS[args.workloads]
    tasks = args.tasks.split(",")
    unit = lambda name: workload.TASKS[name].unit if name in workload.TASKS else "s"
    try:
        peer = importlib.import_module(PEERS[framework])
        meta = peer.setup()
    except Exception as exc:  # the framework itself is not usable: every task fails
        traceback.print_exc()
        for name in tasks:
            common.append_jsonl(args.result_file, common.failed(
                workload.NAME, name, record_name(framework), MODES[framework], unit(name),
                "setup: " + common.describe_error(exc)))
        return 0
    for name in tasks:
        common.log(f"[{framework}] {workload.NAME} {name} ...")
        try:
            rec = peer.run_task(workload, name, workload.TASKS.get(name), args.repeats)
            rec.update(meta)
        except Exception as exc:
            traceback.print_exc()
            rec = common.failed(workload.NAME, name, record_name(framework), MODES[framework],
                                unit(name), common.describe_error(exc))
        common.append_jsonl(args.result_file, rec)
    return 0


# ---------------------------------------------------------------- parent side

def run_child(framework, workload, tasks, repeats, timeout_s, log_path, env_extra=None):
    """Run tasks in a new process; returns (records in task order, wall seconds)."""
    fd, result_file = tempfile.mkstemp(prefix="bench-", suffix=".jsonl")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", framework,
           "--workloads", workload.NAME, "--tasks", ",".join(tasks),
           "--repeats", str(repeats), "--result-file", result_file]
    env = dict(os.environ, **(env_extra or {}))
    status, error = None, None
    busy = common.cpu_busy()  # other work on the machine skews every number
    if busy is not None and busy > BUSY_CPU:
        common.log(f"warning: {busy:.0%} of the CPU busy before {framework} {tasks}: "
                   "other work is running, numbers will be low and noisy")
    t0 = time.perf_counter()
    with open(log_path, "a") as log:
        log.write(f"$ {' '.join(cmd)}  {env_extra or ''}\n")
        log.flush()
        # own session, so a timeout also ends the compilers a child has started
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
            if rc != 0:
                status, error = "failed", f"child process exited with {rc}; log: {log_path}"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status, error = "timeout", f"no result within {timeout_s} s; log: {log_path}"
    wall_s = time.perf_counter() - t0
    done = {r["task"]: dict(r, cpu_busy_before=busy) for r in common.read_jsonl(result_file)}
    os.unlink(result_file)
    records = []
    for name in tasks:
        if name not in done:
            unit = workload.TASKS[name].unit if name in workload.TASKS else "s"
            done[name] = common.failed(workload.NAME, name, record_name(framework), MODES[framework],
                                       unit, error or "child wrote no result",
                                       status=status or "failed")
        records.append(done[name])
    return records, wall_s


def run_builds(workload, names, args, log_path):
    """build_cold_s: new process, empty KCC_CACHE_DIR; build_cached_s: the cold cache."""
    samples = min(args.repeats, BUILD_SAMPLES)
    cache_dirs, results = [], []

    def child(name):
        return run_child("kcc", workload, [name], 1, args.timeout, log_path,
                         {"KCC_CACHE_DIR": cache_dirs[-1]})

    try:
        for name in names:
            if name == "build_cached_s" and not cache_dirs:  # asked alone: fill a cache
                cache_dirs.append(tempfile.mkdtemp(prefix="kcc-bench-cache-"))
                child("build_cold_s")
            recs, walls = [], []
            for _ in range(samples):
                if name == "build_cold_s":
                    cache_dirs.append(tempfile.mkdtemp(prefix="kcc-bench-cache-"))
                (rec,), wall_s = child(name)
                recs.append(rec)
                walls.append(round(wall_s, 3))
                if rec["status"] != "ok":
                    break  # not ready: one failure says it, don't spend the budget
            results.append(_merge_build(recs, walls))
    finally:
        for d in cache_dirs:
            shutil.rmtree(d, ignore_errors=True)
    return results


def _merge_build(recs, walls):
    bad = [r for r in recs if r["status"] != "ok"]
    if bad:
        return bad[0]
    rec = dict(recs[0])
    rec["samples"] = [r["value"] for r in recs]
    rec["value"] = round(common.median(rec["samples"]), 4)
    rec["compile_s"] = round(common.median([r["compile_s"] for r in recs]), 4)
    rec["process_s"] = walls  # each child's whole life: start, import, build, exit
    return rec


def parent_main(args):
    workloads = [_pick(WORKLOADS, w, "workload") for w in args.workloads.split(",")]
    frameworks = args.frameworks.split(",")
    for fw in frameworks:
        _pick(PEERS, fw, "framework")
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    open(out, "w").close()
    log_path = os.path.splitext(out)[0] + ".log"
    open(log_path, "w").close()

    all_records = []
    t_start = time.perf_counter()
    for workload in workloads:
        for fw in frameworks:
            tasks = list(workload.TASKS) + (list(workload.BUILD_TASKS) if fw == "kcc" else [])
            if args.tasks:
                tasks = [t for t in tasks if t in args.tasks.split(",")]
            skipped = [t for t in tasks if not supports(fw, workload, t)]
            tasks = [t for t in tasks if t not in skipped]
            if skipped:
                common.log(f"== {workload.NAME} {fw}: skipping {', '.join(skipped)} "
                           "(not applicable to this framework)")
            if not tasks:
                continue
            timed = [t for t in tasks if t in workload.TASKS]
            builds = [t for t in tasks if t not in workload.TASKS]
            common.log(f"== {workload.NAME} {fw}: {', '.join(tasks)}")
            records = []
            if timed:
                records += run_child(fw, workload, timed, args.repeats, args.timeout,
                                     log_path)[0]
            if builds:
                records += run_builds(workload, builds, args, log_path)
            for rec in records:
                common.append_jsonl(out, rec)
                print(json.dumps(rec), flush=True)
            all_records += records
    common.log(f"== done in {time.perf_counter() - t_start:.1f} s; results: {out}; "
               f"child logs: {log_path}")
    print()
    print_tables(all_records)
    return 0


def print_tables(records):
    """kcc vs torch eager; on a GPU run kcc cuda vs torch cuda; with ORT or kcc-export
    records, the inference table next to ONNX Runtime."""
    print(common.table(records))
    if any(r["mode"] in ("cuda", "cuda-eager") for r in records):
        print()
        print(common.table(records, baseline=("torch", "cuda-eager"), ours=("kcc", "cuda")))
    if any(r["mode"] in (MODES["ort"], MODES["kcc-export"]) for r in records):
        print()
        print(common.infer_table(records))


def supports(framework, workload, task):
    """Whether `framework` runs `task` of `workload`: a peer module may define
    `supports(workload, task_name)` (ort, kcc-export: inference only); a task it declines
    is left out of the run (no record), not reported as failed. Peers without it run all.
    Peer modules import their framework inside setup()/run_task(), so this stays light."""
    peer = importlib.import_module(PEERS[framework])
    check = getattr(peer, "supports", None)
    return True if check is None else bool(check(workload, task))


def _pick(table, name, what):
    if name not in table:
        sys.exit(f"run.py: unknown {what} {name!r}; expected one of {', '.join(table)}")
    return table[name]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W1", help="comma-separated, e.g. W1")
    p.add_argument("--frameworks", default="kcc,torch", help="comma-separated: kcc,torch")
    p.add_argument("--repeats", type=int, default=5,
                   help="timed epochs / blocks of timed calls per task (default 5)")
    p.add_argument("--tasks", default="", help="only these tasks, e.g. train_b32,infer_b1")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "out", "results.jsonl"))
    p.add_argument("--timeout", type=int, default=300, help="seconds per child process")
    p.add_argument("--report", metavar="JSONL", help="print the table of a past run and exit")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.report:
        print_tables(common.read_jsonl(args.report))
        return 0
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
