"""Every CUDA case's generated unit compiles with nvcc for sm_90 (no GPU needed).

The units are built concurrently, one nvcc per core (each build is one single-threaded
nvcc process), then each case's test checks its own result."""
import concurrent.futures
import os

import numpy as np
import pytest

from cases import all_cases
from kcc.build.toolchain import find_nvcc

CASES = all_cases()
pytestmark = pytest.mark.skipif(find_nvcc() is None, reason="nvcc (the CUDA toolkit) is not installed")


@pytest.fixture(scope="module")
def built():
    from kcc.runtime.cuda import compile_only
    natives = {}
    for name, make in CASES.items():
        case = make(np.random.default_rng(0))
        model = case["model"]
        model.compile(optimizer=case["optimizer"], loss=case["loss"], metrics=case["metrics"])
        natives[name] = model._native
    workers = max(1, len(os.sched_getaffinity(0)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(compile_only, native) for name, native in natives.items()}
        return {name: f.exception() or f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_unit_compiles(built, name):
    result = built[name]
    if isinstance(result, BaseException):
        raise result
    assert result.is_file() and result.stat().st_size > 0
