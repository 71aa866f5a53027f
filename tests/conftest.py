"""Shared test setup: every test session builds into its own cache directory, so tests
never read or write the user's ~/.cache/kcc (and always exercise cold builds once)."""
import os
import sys
import tempfile

import pytest

# numerics_ref (float64 references, finite differences) and shared/guide_models (the
# guide's models at test sizes) serve every test folder
_TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_TESTS, "numerics"))
sys.path.insert(0, os.path.join(_TESTS, "shared"))


@pytest.fixture(autouse=True, scope="session")
def _kcc_cache_dir():
    if "KCC_CACHE_DIR" in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="kcc-test-cache-") as d:
        os.environ["KCC_CACHE_DIR"] = d
        yield
        del os.environ["KCC_CACHE_DIR"]


_SUMMARY: list[str] = []   # lines for the end of the run (a fixture's own output is captured)


def pytest_terminal_summary(terminalreporter):
    for line in _SUMMARY:
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True, scope="session")
def _every_model_builds_for_cuda():
    """Every model the suite compiles for the CPU is also rendered as a CUDA unit (a few ms
    each), so a layer without a working .cu template fails here even where no test targets
    CUDA; and each distinct unit is compiled to PTX with nvcc for sm_90
    (tests/shared/nvcc_check.py, in the background while the tests run). Without nvcc the
    units are only rendered, and the run says so. KCC_TEST_NVCC=0 skips the nvcc builds (a
    quicker local run)."""
    import warnings

    from kcc.build.toolchain import find_nvcc
    from kcc.runtime import native
    from kcc.runtime.cuda import cuda_source

    failures = []
    nvcc = find_nvcc()
    wanted = os.environ.get("KCC_TEST_NVCC", "1").strip() != "0"
    check = None
    if nvcc and wanted:
        from nvcc_check import ARCH, NvccCheck
        check = NvccCheck(nvcc, str(native.include_dir()))
    original = native.NativeModel.__init__

    def init(self, graph, what, device="cpu"):
        original(self, graph, what, device)
        if device == "cpu":
            try:
                source = cuda_source(self)
            except Exception as e:  # collected, reported once at the end
                failures.append(f"{what}: {type(e).__name__}: {e}")
                return
            if check:
                check.submit(what, source)

    native.NativeModel.__init__ = init
    yield
    native.NativeModel.__init__ = original
    assert not failures, "models that do not render as CUDA:\n  " + "\n  ".join(failures[:20])
    if check is None:
        why = "KCC_TEST_NVCC=0" if nvcc else "nvcc (the CUDA toolkit) is not installed"
        warnings.warn(f"the models' CUDA units were rendered but not compiled: {why}")
        _SUMMARY.append(f"the models' CUDA units were rendered but not compiled with nvcc: {why}")
        return
    nvcc_failures = check.finish()
    _SUMMARY.append(f"nvcc -arch={ARCH} -ptx compiled {check.built} distinct CUDA units of the models this run "
                    f"built; {len(nvcc_failures)} failed")
    assert not nvcc_failures, "models whose CUDA unit does not compile:\n  " + "\n  ".join(nvcc_failures[:10])


@pytest.fixture(autouse=True)
def _seeded(request):
    """Each test starts from its own fixed seed (derived from its id), so its weights,
    shuffles and dropout masks are the same in every run: a comparison that depends on
    them (two implementations meeting a ReLU's zero from either side) passes or fails
    every time, never one CI run in many. A test may still set its own seed."""
    import zlib

    import kcc
    kcc.utils.set_random_seed(zlib.crc32(request.node.nodeid.encode()))
