"""PyTorch eager on CPU, 2 threads, convs and image inputs in channels_last memory
format (mode 'eager-cl'); for the image workloads W4-W6 only (`--frameworks torch-cl`).
Records say framework 'torch', mode 'eager-cl'."""

from peers import torch_eager

FRAMEWORK = "torch"
MODE = "eager-cl"


def setup():
    return torch_eager.setup()


def run_task(workload, name, task, repeats):
    return torch_eager.run_task(workload, name, task, repeats, channels_last=True)
