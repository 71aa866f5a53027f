"""PyTorch eager on CPU, 2 threads: the peer every kcc number is compared with."""

import common

FRAMEWORK = "torch"
MODE = "eager"
THREADS = 2


def setup():
    """Import torch and pin its threads; returns fields added to every record."""
    import torch
    torch.set_num_threads(THREADS)
    return {"version": torch.__version__, "threads": torch.get_num_threads()}


def run_task(workload, name, task, repeats):
    if name.startswith("train"):
        return _train(workload, name, task, repeats)
    return _infer(workload, name, task, repeats)


def _as_list(a):
    return list(a) if isinstance(a, (list, tuple)) else [a]


def _train(workload, name, task, repeats):
    import torch

    model, optimizer = workload.build_torch()
    model.train()
    xs, ys = workload.train_data(task)
    xs = [torch.from_numpy(a) for a in workload.torch_arrays(_as_list(xs))]
    ys = [torch.from_numpy(a) for a in _as_list(ys)]
    bs = task.batch_size
    batches = [([x[i:i + bs] for x in xs], [y[i:i + bs] for y in ys])   # views
               for i in range(0, task.n, bs)]

    def epoch():
        for xb, yb in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = workload.torch_loss(model, xb, yb)
            loss.backward()
            optimizer.step()

    warmup_s, times = common.time_epochs(epoch, repeats)
    samples = [task.n / t for t in times]
    return common.record(workload.NAME, name, FRAMEWORK, MODE,
                         round(task.n / common.median(times), 1), task.unit,
                         [round(s, 1) for s in samples],
                         batch_size=bs, n=task.n, warmup_s=round(warmup_s, 4))


def _infer(workload, name, task, repeats):
    import torch

    model, _ = workload.build_torch()
    model.eval()
    x = torch.from_numpy(workload.infer_data(task))

    def call():
        return torch.softmax(model(x), dim=-1)  # the model's output is the softmax

    with torch.inference_mode():
        lat = common.time_calls(call, task.warmup, task.calls_per_repeat * repeats)
    return common.infer_record(workload.NAME, name, FRAMEWORK, MODE, task, lat, repeats)
