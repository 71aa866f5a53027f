"""PyTorch eager on the GPU (float32, TF32 off so the arithmetic is the fp32 every peer
does): the CUDA peer. The same timing code as peers/torch_eager.py with device="cuda": data
moved to the GPU once, before timing; each timed epoch or call ends with
torch.cuda.synchronize()."""

from peers import torch_eager

FRAMEWORK = "torch"
MODE = "cuda-eager"


def setup():
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return {"version": torch.__version__, "gpu": torch.cuda.get_device_name(0)}


def run_task(workload, name, task, repeats):
    return torch_eager.run_task(workload, name, task, repeats, device="cuda", mode=MODE)
