"""kcc: the model compiled ahead of time to native code, run through the Keras API.

Training is `model.fit(..., epochs=1, shuffle=False, verbose=0)` once per epoch;
inference is `model.predict_on_batch(x)`, as Keras users call it for one batch.
kcc picks its own thread count (all cores); nothing is set here.
"""

import os
import sys
import time

import common

FRAMEWORK = "kcc"
MODE = "native"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def setup():
    """Import kcc; returns fields added to every record.

    An installed kcc (`pip install -e .`) comes first on sys.path; the source tree
    is appended only as a fallback, for a checkout whose runtime is already built.
    """
    if REPO_ROOT not in sys.path:
        sys.path.append(REPO_ROOT)
    import kcc
    try:
        cores = len(os.sched_getaffinity(0))  # kcc's default: every core it may run on
    except AttributeError:
        cores = os.cpu_count()
    return {"version": getattr(kcc, "__version__", "unknown"), "threads": cores,
            "cache_dir": os.environ.get("KCC_CACHE_DIR", "default")}


def run_task(workload, name, task, repeats):
    if name in workload.BUILD_TASKS:
        return _build(workload, name)
    if name.startswith("train"):
        return _train(workload, name, task, repeats)
    return _infer(workload, name, task, repeats)


def _compiled(workload):
    model = workload.build_kcc()
    t0 = time.perf_counter()
    workload.compile_kcc(model)
    return model, time.perf_counter() - t0


def _train(workload, name, task, repeats):
    x, y = workload.train_data(task)
    model, compile_s = _compiled(workload)
    bs = task.batch_size

    def epoch():
        model.fit(x, y, batch_size=bs, epochs=1, shuffle=False, verbose=0)

    # the warm-up epoch also covers a build that compile() may leave to the first fit
    warmup_s, times = common.time_epochs(epoch, repeats)
    samples = [task.n / t for t in times]
    return common.record(workload.NAME, name, FRAMEWORK, MODE,
                         round(task.n / common.median(times), 1), task.unit,
                         [round(s, 1) for s in samples], batch_size=bs, n=task.n,
                         compile_s=round(compile_s, 4), warmup_s=round(warmup_s, 4))


def _infer(workload, name, task, repeats):
    x = workload.infer_data(task)
    model, compile_s = _compiled(workload)
    t0 = time.perf_counter()
    model.predict_on_batch(x)
    first_call_s = time.perf_counter() - t0
    lat = common.time_calls(lambda: model.predict_on_batch(x), task.warmup,
                            task.calls_per_repeat * repeats)
    return common.infer_record(workload.NAME, name, FRAMEWORK, MODE, task, lat, repeats,
                               compile_s=round(compile_s, 4),
                               first_call_s=round(first_call_s, 4))


def _build(workload, name):
    """One sample of build time: model.compile + first predict, in this new process.

    run.py starts one process per sample, with KCC_CACHE_DIR set to an empty
    directory (build_cold_s) or to the one a cold run filled (build_cached_s).
    """
    x, _ = common.classification_data(32, workload.FEATURES, workload.CLASSES)
    model = workload.build_kcc()
    t0 = time.perf_counter()
    workload.compile_kcc(model)
    compile_s = time.perf_counter() - t0
    model.predict(x, batch_size=32)
    total_s = time.perf_counter() - t0
    return common.record(workload.NAME, name, FRAMEWORK, MODE, round(total_s, 4), "s",
                         [round(total_s, 4)], compile_s=round(compile_s, 4))
