"""Every CUDA case's generated unit compiles with nvcc for sm_90 (no GPU needed).

The cases (tests/cuda/cases*.py) cover every op family; each gets nvcc's full device
check (front end, device code generation, ptxas; unoptimised: tests/shared/nvcc_check.py).
The guide models are also built exactly as device='cuda' builds them (-O3, host compiler
included, into the build cache), and so is the driver. Every other model the suite
compiles is checked to PTX by tests/conftest.py. The units are built in batches (one nvcc
for several units, tests/shared/nvcc_check.py), a batch per core, then each case's test
checks its own result."""
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
    """name -> nvcc's errors or None, the cases compiled in batches of 8 (nvcc_check's
    check_batch: a failing batch is compiled again unit by unit, so each error is the
    case's own), a batch per core at a time."""
    from nvcc_check import check_batch

    from kcc.runtime.cuda import cuda_source
    from kcc.runtime.native import include_dir

    with tempfile.TemporaryDirectory(prefix="kcc-cuda-cases-") as d:
        paths = {}
        for name, (_, native) in compiled_cases.items():
            paths[name] = Path(d) / f"{name}.cu"
            paths[name].write_text(cuda_source(native), encoding="utf-8")
        names = sorted(paths)
        batches = {k: names[k:k + 8] for k in range(0, len(names), 8)}
        results = build_each(lambda batch: check_batch(find_nvcc(), str(include_dir()),
                                                       [paths[n] for n in batch], full=True), batches)
        out = {}
        for k, batch in batches.items():
            for i, name in enumerate(batch):
                out[name] = results[k] if isinstance(results[k], BaseException) else results[k][i]
        return out


@pytest.fixture(scope="module")
def built(compiled_cases):
    from kcc.runtime.cuda import compile_only
    return build_each(compile_only, {name: compiled_cases[name][1] for name in GUIDE if name in compiled_cases})


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
