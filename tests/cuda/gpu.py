"""Whether this machine can run the CUDA tests, and why not."""
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
