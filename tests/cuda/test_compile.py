"""Every CUDA case's generated unit compiles with nvcc for sm_90 (no GPU needed).

The units are built concurrently, one nvcc per core, then each case's test checks its own
result."""
import pytest

from cases import all_cases, build_each
from kcc.build.toolchain import find_nvcc

CASES = all_cases()
pytestmark = pytest.mark.skipif(find_nvcc() is None, reason="nvcc (the CUDA toolkit) is not installed")


@pytest.fixture(scope="module")
def built(compiled_cases):
    from kcc.runtime.cuda import compile_only
    return build_each(compile_only, {name: native for name, (_, native) in compiled_cases.items()})


@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_unit_compiles(built, name):
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
