"""Whether this machine can run the CUDA tests on a GPU, and the device the device tests run
on: the GPU when there is one, else the host emulation (KCC_CUDA_EMULATE=1: the same
generated units and driver built for the CPU, kernels as loops)."""
import functools

import pytest


@functools.lru_cache(maxsize=1)
def gpu_reason() -> str:
    """'' when a CUDA GPU and nvcc are usable, else why not."""
    from kcc.build.toolchain import find_nvcc
    from kcc.runtime.cuda import CudaUnavailable, visible_gpu
    if find_nvcc() is None:
        return "nvcc (the CUDA toolkit) is not installed"
    try:
        visible_gpu()
    except CudaUnavailable as e:
        return str(e)
    return ""


def needs_gpu():
    return pytest.mark.skipif(bool(gpu_reason()), reason=f"no CUDA GPU here: {gpu_reason()}")


@pytest.fixture
def cuda_device(monkeypatch):
    """device='cuda' works in this test: on the GPU, or emulated on the host where there is
    none (races, graph capture and speed are then unchecked; the GPU run covers those).
    Yields True when emulated."""
    emulated = bool(gpu_reason())
    monkeypatch.setenv("KCC_CUDA_EMULATE", "1" if emulated else "0")
    yield emulated
