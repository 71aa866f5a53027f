"""kcc on the GPU: the same workload code as peers/kcc_native.py, with models compiled
for device='cuda' (kcc.backend.set_device, so the workloads' compile() calls are as they
are for the CPU). fit() ends with the weights copied back to the host, so the epoch
time includes that sync."""

from peers import kcc_native

FRAMEWORK = "kcc"
MODE = "cuda"


def setup():
    meta = kcc_native.setup()
    import kcc
    from kcc.runtime.cuda import visible_gpu
    kcc.backend.set_device("cuda")
    meta["gpu"] = visible_gpu()[0]
    return meta


def run_task(workload, name, task, repeats):
    rec = kcc_native.run_task(workload, name, task, repeats)
    rec["mode"] = MODE
    return rec
