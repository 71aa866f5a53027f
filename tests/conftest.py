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


@pytest.fixture(autouse=True, scope="session")
def _every_model_renders_for_cuda():
    """Every model the suite compiles for the CPU is also rendered as a CUDA unit (a few
    ms each), so a layer without a working .cu template fails here even where no test
    targets CUDA. tests/cuda/test_compile.py compiles a case per op family with nvcc."""
    from kcc.runtime import native
    from kcc.runtime.cuda import cuda_source

    failures = []
    original = native.NativeModel.__init__

    def init(self, graph, what, device="cpu"):
        original(self, graph, what, device)
        if device == "cpu":
            try:
                cuda_source(self)
            except Exception as e:  # collected, reported once at the end
                failures.append(f"{what}: {type(e).__name__}: {e}")

    native.NativeModel.__init__ = init
    yield
    native.NativeModel.__init__ = original
    assert not failures, "models that do not render as CUDA:\n  " + "\n  ".join(failures[:20])


@pytest.fixture(autouse=True)
def _seeded(request):
    """Each test starts from its own fixed seed (derived from its id), so its weights,
    shuffles and dropout masks are the same in every run: a comparison that depends on
    them (two implementations meeting a ReLU's zero from either side) passes or fails
    every time, never one CI run in many. A test may still set its own seed."""
    import zlib

    import kcc
    kcc.utils.set_random_seed(zlib.crc32(request.node.nodeid.encode()))
