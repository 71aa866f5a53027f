"""Every CUDA case's generated unit compiles with nvcc for sm_90 (no GPU needed).

The cases (tests/cuda/cases*.py) cover every op family; each gets nvcc's full device
check (front end, device code generation, ptxas; unoptimised: tests/shared/nvcc_check.py).
The guide models are also built exactly as device='cuda' builds them (-O3, host compiler
included, into the build cache), and so is the driver. Every other model the suite
compiles is checked to PTX by tests/conftest.py. The units are built concurrently, one nvcc
per core, then each case's test checks its own result."""
import tempfile
from pathlib import Path

import pytest

from cases import all_cases, build_each
from kcc.build.toolchain import find_nvcc

CASES = all_cases()
GUIDE = sorted(name for name in CASES if name.startswith("guide_"))
pytestmark = pytest.mark.skipif(find_nvcc() is None, reason="nvcc (the CUDA toolkit) is not installed")


@pytest.fixture(scope="module")
def checked(compiled_cases):
    from nvcc_check import check

    from kcc.runtime.cuda import cuda_source
    from kcc.runtime.native import include_dir

    with tempfile.TemporaryDirectory(prefix="kcc-cuda-cases-") as d:
        def full(item):
            name, native = item
            path = Path(d) / f"{name}.cu"
            path.write_text(cuda_source(native), encoding="utf-8")
            return check(find_nvcc(), str(include_dir()), path, full=True)

        return build_each(full, {name: (name, native) for name, (_, native) in compiled_cases.items()})


@pytest.fixture(scope="module")
def built(compiled_cases):
    from kcc.runtime.cuda import compile_only
    return build_each(compile_only, {name: compiled_cases[name][1] for name in GUIDE})


@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_unit_compiles(checked, name):
    result = checked[name]
    if isinstance(result, BaseException):
        raise result
    assert result is None, f"nvcc failed on case {name}:\n    {result}"


@pytest.mark.parametrize("name", GUIDE)
def test_guide_model_builds_as_device_cuda_does(built, name):
    result = built[name]
    if isinstance(result, BaseException):
        raise result
    assert result.is_file() and result.stat().st_size > 0


def test_cuda_driver_compiles():
    """csrc/cuda/session.cu, the driver every device='cuda' model runs under."""
    from kcc.runtime.cuda import DEFAULT_ARCH
    from kcc.runtime.cuda_session import build_driver
    path = build_driver(DEFAULT_ARCH)
    assert path.is_file() and path.stat().st_size > 0
