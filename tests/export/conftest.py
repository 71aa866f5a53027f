"""Export each test model once, then build every export in parallel (with and without a
BLAS), install it and run a consumer project on it; the tests read the results."""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import shutil  # noqa: E402

from export_builds import VARIANTS, Pipeline, jobs, missing_tools  # noqa: E402
from export_models import MODELS  # noqa: E402

SAMPLES = {"mlp": 300, "headline": 37, "convnet": 9, "vision": 7,   # mlp crosses a 256-row step
           "winograd": 6}


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """name -> (model, export folder, consumer inputs, model.predict outputs)."""
    from kcc.export import export_model
    from kcc.utils import set_random_seed
    out = {}
    root = tmp_path_factory.mktemp("exports")
    for name, make in MODELS.items():
        set_random_seed(7)
        model, xs = make(np.random.default_rng(1), SAMPLES[name])
        ys = model.predict(xs if len(xs) > 1 else xs[0])
        ys = ys if isinstance(ys, list) else [ys]
        out[name] = (model, export_model(model, root / name, name=name), xs, ys)
    return out


@pytest.fixture(scope="session")
def pipelines(exports, tmp_path_factory):
    """(name, blas, compiler) -> Pipeline, every one run to completion (or to its error)."""
    reason = missing_tools()
    if reason:
        pytest.skip(f"export builds need CMake and a C/C++ compiler: {reason}")
    root = tmp_path_factory.mktemp("builds")
    variants = [(blas, cc) for blas, cc in VARIANTS if not cc or shutil.which(f"{cc}++")]
    todo = [Pipeline(name, folder, root / f"{name}-{'blas' if blas else 'portable'}{'-' + cc if cc else ''}",
                     blas, xs, compiler=cc)
            for name, (_, folder, xs, _) in exports.items() for blas, cc in variants]
    for p in todo:
        p.work.mkdir()
    n = jobs()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(2, n)) as pool:
        done = list(pool.map(lambda p: p.run(max(1, n // 2)), todo))
    print(f"\n[export builds] {len(done)} pipelines in {time.perf_counter() - t0:.1f} s: " +
          ", ".join(f"{p.work.name} {p.seconds:.1f} s" for p in done))
    return {(p.name, p.blas, p.compiler): p for p in done}
