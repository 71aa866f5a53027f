"""Where a kcc training step spends its GPU time: one epoch of each workload's
train_b32 task with device='cuda', under PyTorch's profiler (CUPTI sees every kernel in
the process, kcc's included). Writes one table per workload, kernels by total GPU time.

    python bench/gpu_profile.py --workloads W3,W4 --out bench/out/gpu

The kernel names say where each launch comes from: a template's kernels are its lambdas,
named after the function around them (e.g. `conv2d_2_backward`); `gemm_kernel<GemmTile<128, 64, ...>>`
is kcc::cuda::gemm. Run by bench/gpu.sh when KCC_GPU_PROFILE=1. Without a GPU (say under
KCC_CUDA_EMULATE=1, to check this script) the table is empty: kcc runs no torch ops.
"""
import argparse
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

WORKLOADS = {"W1": "w1_mlp", "W2": "w2_headline", "W3": "w3_tweets", "W4": "w4_digits"}


def profile(workload, out_dir, rows):
    import torch
    from torch.profiler import ProfilerActivity

    import kcc
    kcc.backend.set_device("cuda")
    task = workload.TASKS["train_b32"]
    x, y = workload.train_data(task)
    model = workload.build_kcc()
    workload.compile_kcc(model)
    fit = lambda: model.fit(x, y, batch_size=task.batch_size, epochs=1, shuffle=False, verbose=0)
    fit()   # the warm-up epoch: builds, uploads the data, captures the step graphs
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        fit()
    sort = "cuda_time_total" if torch.cuda.is_available() else "cpu_time_total"
    text = prof.key_averages().table(sort_by=sort, row_limit=rows, max_name_column_width=110)
    steps = task.n // task.batch_size
    head = f"{workload.NAME} train_b32: one epoch of {steps} steps, kcc device='cuda'\n"
    path = os.path.join(out_dir, f"profile_{workload.NAME}.txt")
    with open(path, "w") as f:
        f.write(head + text)
    print(head + text, flush=True)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="W2,W3,W4")
    ap.add_argument("--out", default=os.path.join(HERE, "out", "gpu"))
    ap.add_argument("--rows", type=int, default=30)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in args.workloads.split(","):
        if name not in WORKLOADS:
            ap.error(f"unknown workload {name!r}; expected some of {', '.join(WORKLOADS)}")
        profile(importlib.import_module(WORKLOADS[name]), args.out, args.rows)


if __name__ == "__main__":
    main()
