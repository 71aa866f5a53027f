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


def run_task(workload, name, task, repeats, channels_last=False, device="cpu", mode=None):
    """channels_last: convs and 4-d inputs in torch's channels_last memory format
    (mode 'eager-cl', peers/torch_eager_cl.py; only image workloads take it).
    device="cuda" (peers/torch_cuda.py): the model and the data are moved to the GPU once,
    before timing, and every timed epoch or call ends with torch.cuda.synchronize()."""
    mode = mode or ("eager-cl" if channels_last else MODE)
    build = (lambda: workload.build_torch(channels_last=True)) if channels_last \
        else workload.build_torch
    if device != "cpu":
        build = _on_device(build, device)
    if name.startswith("train"):
        return _train(workload, name, task, repeats, build, mode, channels_last, device)
    return _infer(workload, name, task, repeats, build, mode, channels_last, device)


def _on_device(build, device):
    def built():
        model, optimizer = build()
        model.to(device)   # moves the parameters in place: the optimizer keeps them
        return model, optimizer
    return built


def _sync(device):
    """What ends a timed epoch or call: a no-op on the CPU, a GPU synchronize on CUDA."""
    if device == "cpu":
        return lambda: None
    import torch
    return torch.cuda.synchronize


def _tensor(a, channels_last, device="cpu"):
    import torch
    t = torch.from_numpy(a)
    if channels_last and t.dim() == 4:
        t = t.contiguous(memory_format=torch.channels_last)
    return t if device == "cpu" else t.to(device)


def _as_list(a):
    return list(a) if isinstance(a, (list, tuple)) else [a]


def _train(workload, name, task, repeats, build, mode, channels_last, device):
    model, optimizer = build()
    model.train()
    sync = _sync(device)
    xs, ys = workload.train_data(task)
    xs = [_tensor(a, channels_last, device) for a in workload.torch_arrays(_as_list(xs))]
    ys = [_tensor(a, False, device) for a in _as_list(ys)]
    bs = task.batch_size
    batches = [([x[i:i + bs] for x in xs], [y[i:i + bs] for y in ys])   # views
               for i in range(0, task.n, bs)]

    def epoch():
        for xb, yb in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = workload.torch_loss(model, xb, yb)
            loss.backward()
            optimizer.step()
        sync()

    warmup_s, times = common.time_epochs(epoch, repeats)
    samples = [task.n / t for t in times]
    return common.record(workload.NAME, name, FRAMEWORK, mode,
                         round(task.n / common.median(times), 1), task.unit,
                         [round(s, 1) for s in samples],
                         batch_size=bs, n=task.n, warmup_s=round(warmup_s, 4))


def _infer(workload, name, task, repeats, build, mode, channels_last, device):
    import torch

    model, _ = build()
    model.eval()
    sync = _sync(device)
    data = workload.infer_data(task)
    if hasattr(workload, "torch_infer"):  # any number of inputs; the workload says the output
        xs = [_tensor(a, channels_last, device) for a in workload.torch_arrays(_as_list(data))]

        def call():
            out = workload.torch_infer(model, xs)
            sync()
            return out
    else:  # one float input, softmax output (W1)
        x = _tensor(data, False, device)

        def call():
            out = torch.softmax(model(x), dim=-1)  # the model's output is the softmax
            sync()
            return out

    with torch.inference_mode():
        lat = common.time_calls(call, task.warmup, task.calls_per_repeat * repeats)
    return common.infer_record(workload.NAME, name, FRAMEWORK, mode, task, lat, repeats)
