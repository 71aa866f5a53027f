"""ONNX Runtime (CPU execution provider): the workload's torch model exported to ONNX.

For each inference task the workload's own torch model (`build_torch`) is wrapped so
its output is the Keras model's output (W1 adds the softmax its logits model leaves to
the loss; W5/W6 use the workload's `torch_infer`), exported with the TorchScript-based
`torch.onnx.export(..., dynamo=False)` at the task's fixed batch size, and run with
`InferenceSession.run`, timed call by call: intra-op 2 threads, inter-op 1, graph
optimisation ALL (../shared/bench-workloads.md). Training tasks do not apply:
`supports()` tells run.py to skip them.
"""

import os
import shutil
import tempfile
import time

import common

FRAMEWORK = "ort"
MODE = "cpu"
THREADS = 2
OPSET = 17


def supports(workload, name):
    """Inference tasks only: ONNX Runtime here runs exported forward graphs."""
    return name.startswith("infer")


def setup():
    import onnxruntime as ort
    import torch
    torch.set_num_threads(THREADS)   # the export traces on the CPU; keep torch on 2 cores too
    return {"version": ort.__version__, "threads": THREADS, "torch_version": torch.__version__,
            "opset": OPSET, "providers": ["CPUExecutionProvider"]}


def _as_list(a):
    return list(a) if isinstance(a, (list, tuple)) else [a]


def run_task(workload, name, task, repeats):
    if not supports(workload, name):
        raise ValueError(f"ort runs inference tasks only, not {name}")
    import numpy as np
    import onnxruntime as ort
    import torch

    model, _ = workload.build_torch()
    model.eval()

    class Inference(torch.nn.Module):
        """The model's output as Keras gives it (softmax where the model has one)."""
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *xs):
            if hasattr(workload, "torch_infer"):
                return workload.torch_infer(self.inner, list(xs))
            return torch.softmax(self.inner(xs[0]), dim=-1)   # W1: logits model

    wrapped = Inference(model).eval()
    feeds_np = [np.ascontiguousarray(a) for a in workload.torch_arrays(_as_list(workload.infer_data(task)))]
    xs = [torch.from_numpy(a) for a in feeds_np]
    names = [f"input_{i}" for i in range(len(xs))]

    tmp = tempfile.mkdtemp(prefix="bench-ort-")
    try:
        path = os.path.join(tmp, f"{workload.NAME}_{name}.onnx")
        t0 = time.perf_counter()
        with torch.inference_mode():
            reference = wrapped(*xs).numpy()
        torch.onnx.export(wrapped, tuple(xs), path, dynamo=False, opset_version=OPSET,
                          input_names=names, output_names=["output"], do_constant_folding=True)
        export_s = time.perf_counter() - t0
        onnx_bytes = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = THREADS
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        t0 = time.perf_counter()
        sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
        session_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)   # the session holds its own copy

    feeds = dict(zip(names, feeds_np))
    t0 = time.perf_counter()
    out = sess.run(None, feeds)[0]
    first_call_s = time.perf_counter() - t0
    max_diff = float(np.max(np.abs(out - reference)))

    lat = common.time_calls(lambda: sess.run(None, feeds), task.warmup,
                            task.calls_per_repeat * repeats)
    return common.infer_record(workload.NAME, name, FRAMEWORK, MODE, task, lat, repeats,
                               compile_s=round(export_s + session_s, 4),
                               export_s=round(export_s, 4), session_s=round(session_s, 4),
                               first_call_s=round(first_call_s, 4), onnx_bytes=onnx_bytes,
                               max_abs_diff_vs_torch=max_diff)
