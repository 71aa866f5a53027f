"""Every test model exported, built with CMake (portable GEMM, and a BLAS when one is
found; the portable build also with Clang), its own ctest run, installed, and used by a separate project through
find_package: the consumer's outputs equal model.predict's, on 1, 2 and 3 threads of the
library (the Winograd model's convolutions split into tasks even for one sample)."""
import numpy as np
import pytest

from export_builds import CONSUMER_RUNS, VARIANT_IDS, VARIANTS, built
from export_models import MODELS

TOL = 1e-5


@pytest.mark.parametrize("blas,compiler", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("name", list(MODELS))
def test_consumer_matches_predict(exports, pipelines, name, blas, compiler):
    p = built(pipelines, name, blas, compiler)
    model, _, xs, ys = exports[name]
    assert p.blas_on == blas
    for kind, threads in CONSUMER_RUNS:
        got = p.outputs[(kind, threads)]
        how = (f"{name} ({kind}, {'BLAS' if blas else 'portable'}, {compiler or 'default compiler'}, "
               f"threads={threads or 'default'})")
        assert len(got) == len(ys), how
        for i, (g, y) in enumerate(zip(got, ys)):
            diff = np.max(np.abs(g.reshape(y.shape) - y))
            assert diff <= TOL, f"{how} output {i}: max abs diff {diff}"


@pytest.mark.parametrize("blas,compiler", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("name", list(MODELS))
def test_export_ctest_passes(pipelines, name, blas, compiler):
    p = built(pipelines, name, blas, compiler)
    assert "100% tests passed" in p.ctest_log, p.ctest_log
    assert f"{name}_parity" in p.ctest_log and f"{name}_example" in p.ctest_log


@pytest.mark.parametrize("name", list(MODELS))
def test_workers_start_only_for_work(pipelines, name):
    """A handle's workers start on the first operation that splits into tasks: the
    Winograd convolutions do even for one image, the MLP's 300-row products do, the tiny
    models' operations never do. The portable build, so no BLAS threads are counted."""
    p = built(pipelines, name, False)
    if p.os_threads[("shared", 1)] < 0:
        pytest.skip("counts threads through /proc/self/status (Linux)")
    assert p.os_threads[("shared", 1)] == 1
    splits = name in ("winograd", "mlp")
    if name == "winograd":   # else this test says nothing about the Winograd bands
        assert "kcc::winograd::conv<" in (p.source / "src" / "model.cpp").read_text()
    assert p.os_threads[("shared", 3)] == (3 if splits else 1), p.os_threads
