"""PyTorch eager on the GPU (float32, TF32 off so the arithmetic is the fp32 every peer
does): the CUDA peer. Data is moved to the GPU once, before timing; each timed epoch or
call ends with torch.cuda.synchronize()."""

import common

FRAMEWORK = "torch"
MODE = "cuda-eager"


def setup():
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return {"version": torch.__version__, "gpu": torch.cuda.get_device_name(0)}


def _as_list(a):
    return list(a) if isinstance(a, (list, tuple)) else [a]


def run_task(workload, name, task, repeats):
    import torch
    dev = torch.device("cuda")
    model, optimizer = workload.build_torch()
    model.to(dev)   # moves the parameters in place: the optimizer keeps them
    if name.startswith("train"):
        model.train()
        xs, ys = workload.train_data(task)
        xs = [torch.from_numpy(a).to(dev) for a in workload.torch_arrays(_as_list(xs))]
        ys = [torch.from_numpy(a).to(dev) for a in _as_list(ys)]
        bs = task.batch_size
        batches = [([x[i:i + bs] for x in xs], [y[i:i + bs] for y in ys]) for i in range(0, task.n, bs)]

        def epoch():
            for xb, yb in batches:
                optimizer.zero_grad(set_to_none=True)
                loss = workload.torch_loss(model, xb, yb)
                loss.backward()
                optimizer.step()
            torch.cuda.synchronize()

        warmup_s, times = common.time_epochs(epoch, repeats)
        samples = [task.n / t for t in times]
        return common.record(workload.NAME, name, FRAMEWORK, MODE, round(task.n / common.median(times), 1),
                             task.unit, [round(s, 1) for s in samples], batch_size=bs, n=task.n,
                             warmup_s=round(warmup_s, 4))
    model.eval()
    data = workload.infer_data(task)
    if hasattr(workload, "torch_infer"):
        xs = [torch.from_numpy(a).to(dev) for a in workload.torch_arrays(_as_list(data))]

        def call():
            out = workload.torch_infer(model, xs)
            torch.cuda.synchronize()
            return out
    else:
        x = torch.from_numpy(data).to(dev)

        def call():
            out = torch.softmax(model(x), dim=-1)
            torch.cuda.synchronize()
            return out
    with torch.inference_mode():
        lat = common.time_calls(call, task.warmup, task.calls_per_repeat * repeats)
    return common.infer_record(workload.NAME, name, FRAMEWORK, MODE, task, lat, repeats)
