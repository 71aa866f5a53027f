"""Every CUDA case's generated unit compiles with nvcc for sm_90 (no GPU needed)."""
import numpy as np
import pytest

from cases import all_cases
from kcc.build.toolchain import find_nvcc

CASES = all_cases()
needs_nvcc = pytest.mark.skipif(find_nvcc() is None, reason="nvcc (the CUDA toolkit) is not installed")


@needs_nvcc
@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_unit_compiles(name):
    from kcc.runtime.cuda import compile_only
    case = CASES[name](np.random.default_rng(0))
    model = case["model"]
    model.compile(optimizer=case["optimizer"], loss=case["loss"], metrics=case["metrics"])
    lib = compile_only(model._native)
    assert lib.is_file() and lib.stat().st_size > 0
