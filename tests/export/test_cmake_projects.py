"""Every test model exported, built with CMake (portable GEMM, and a BLAS when one is
found), its own ctest run, installed, and used by a separate project through
find_package: the consumer's outputs equal model.predict's."""
import numpy as np
import pytest

from export_models import MODELS

TOL = 1e-5


def _pipeline(pipelines, name, blas):
    p = pipelines[(name, blas)]
    if p.error is not None:
        raise p.error
    if blas and not p.blas_on:
        pytest.skip("no BLAS with cblas_sgemm found by CMake here (CI installs libopenblas-dev)")
    return p


@pytest.mark.parametrize("blas", [False, True], ids=["portable", "blas"])
@pytest.mark.parametrize("name", list(MODELS))
def test_consumer_matches_predict(exports, pipelines, name, blas):
    p = _pipeline(pipelines, name, blas)
    model, _, xs, ys = exports[name]
    assert p.blas_on == blas
    for kind in ("shared", "static"):
        got = p.outputs[kind]
        assert len(got) == len(ys), kind
        for i, (g, y) in enumerate(zip(got, ys)):
            diff = np.max(np.abs(g.reshape(y.shape) - y))
            assert diff <= TOL, f"{name} ({kind}, {'BLAS' if blas else 'portable'}) output {i}: max abs diff {diff}"


@pytest.mark.parametrize("blas", [False, True], ids=["portable", "blas"])
@pytest.mark.parametrize("name", list(MODELS))
def test_export_ctest_passes(pipelines, name, blas):
    p = _pipeline(pipelines, name, blas)
    assert "100% tests passed" in p.ctest_log, p.ctest_log
    assert f"{name}_parity" in p.ctest_log and f"{name}_example" in p.ctest_log
