"""Shared test setup: every test session builds into its own cache directory, so tests
never read or write the user's ~/.cache/kcc (and always exercise cold builds once)."""
import os
import shutil
import sys
import tempfile

import pytest

# numerics_ref (float64 references, finite differences) and shared/guide_models (the
# guide's models at test sizes) serve every test folder
_TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_TESTS, "numerics"))
sys.path.insert(0, os.path.join(_TESTS, "shared"))

# The suite's models build at -O1 (kcc's $KCC_CXXFLAGS goes after its own -O3): a unit
# compiles in less than half the time, and compiling is most of the suite's time; the
# numbers agree to rounding (no -ffast-math either way, so no sum is reordered; where
# FMAs form may differ). The
# release flags are still built and run by the benchmark harness's tests and the
# examples' (tests/bench, tests/seed: their conftest.py clear it), by the export tests
# (CMake's own flags) and by test_compile's guide models (nvcc -O3). Set KCC_CXXFLAGS=
# (empty) to run everything at the release flags.
_SUITE_CHOSE_FLAGS = "KCC_CXXFLAGS" not in os.environ
os.environ.setdefault("KCC_CXXFLAGS", "-O1")


def _run_dir(config) -> str | None:
    """Under pytest-xdist (`pytest -n auto`), a directory the run's workers share: the build
    cache (a model two workers build is built once) and the nvcc check's claims (a unit two
    workers render is compiled once). The controller removes it at the end. None when the
    tests run in one process."""
    uid = getattr(config, "workerinput", {}).get("testrunuid")
    if uid is None:
        return None
    path = os.path.join(tempfile.gettempdir(), f"kcc-test-run-{uid}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


_RUN_DIRS: set[str] = set()   # the xdist controller's: the workers' shared directories


def pytest_collection_finish(session):
    """A whole-suite run (`pytest`, no -k or -m) collects every tests/**/test_*.py: pytest's
    default norecursedirs once skipped tests/build without a word (pyproject.toml)."""
    config = session.config
    if (config.args_source != pytest.Config.ArgsSource.TESTPATHS or config.option.keyword
            or config.option.markexpr):
        return
    from pathlib import Path
    collected = {Path(str(item.path)).resolve() for item in session.items}
    missing = sorted(str(p.relative_to(_TESTS)) for p in Path(_TESTS).rglob("test_*.py")
                     if p.resolve() not in collected)
    if missing:
        raise pytest.UsageError(f"the run collected no test from {', '.join(missing)}: a directory "
                                "pytest skips (norecursedirs) or a module that yields no tests")


def pytest_sessionfinish(session):
    for path in _RUN_DIRS:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def _kcc_cache_dir(request):
    if "KCC_CACHE_DIR" in os.environ:
        yield
        return
    shared = _run_dir(request.config)
    if shared:
        os.environ["KCC_CACHE_DIR"] = os.path.join(shared, "cache")
        yield
        del os.environ["KCC_CACHE_DIR"]
        return
    with tempfile.TemporaryDirectory(prefix="kcc-test-cache-") as d:
        os.environ["KCC_CACHE_DIR"] = d
        yield
        del os.environ["KCC_CACHE_DIR"]


_SUMMARY: list[str] = []   # lines for the end of the run (a fixture's own output is captured)


_NVCC = {"built": 0, "failed": 0}   # the nvcc check's counts, summed over xdist workers


def pytest_terminal_summary(terminalreporter):
    if _NVCC["built"]:
        from nvcc_check import ARCH
        _SUMMARY.append(f"nvcc -arch={ARCH} -ptx compiled {_NVCC['built']} distinct CUDA units of the "
                        f"models this run built; {_NVCC['failed']} failed")
    for line in dict.fromkeys(_SUMMARY):
        terminalreporter.write_line(line)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist: a worker's summary reaches the controller, which prints it (see above)."""
    _RUN_DIRS.add(os.path.join(tempfile.gettempdir(), f"kcc-test-run-{node.workerinput['testrunuid']}"))
    out = getattr(node, "workeroutput", {})
    _SUMMARY.extend(out.get("kcc_summary", []))
    for key in _NVCC:
        _NVCC[key] += out.get(f"kcc_nvcc_{key}", 0)


@pytest.fixture(autouse=True, scope="session")
def _every_model_builds_for_cuda(request):
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
        shared = _run_dir(request.config)
        check = NvccCheck(nvcc, str(native.include_dir()),
                          claims=os.path.join(shared, "nvcc-claims") if shared else None)
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
        if hasattr(request.config, "workeroutput"):
            request.config.workeroutput["kcc_summary"] = list(_SUMMARY)
        return
    nvcc_failures = check.finish()
    _NVCC["built"] += check.built
    _NVCC["failed"] += len(nvcc_failures)
    if hasattr(request.config, "workeroutput"):   # an xdist worker: the controller prints it
        request.config.workeroutput.update(kcc_summary=list(_SUMMARY), kcc_nvcc_built=check.built,
                                           kcc_nvcc_failed=len(nvcc_failures))
    assert not nvcc_failures, "models whose CUDA unit does not compile:\n  " + "\n  ".join(nvcc_failures[:10])


@pytest.fixture
def release_flags(monkeypatch):
    """The test's models build at kcc's release flags, as a user's do (unless the developer
    set KCC_CXXFLAGS for the run)."""
    if _SUITE_CHOSE_FLAGS:
        monkeypatch.setenv("KCC_CXXFLAGS", "")


@pytest.fixture(autouse=True)
def _seeded(request):
    """Each test starts from its own fixed seed (derived from its id), so its weights,
    shuffles and dropout masks are the same in every run: a comparison that depends on
    them (two implementations meeting a ReLU's zero from either side) passes or fails
    every time, never one CI run in many. A test may still set its own seed."""
    import zlib

    import kcc
    kcc.utils.set_random_seed(zlib.crc32(request.node.nodeid.encode()))
