"""The parity data every export carries: inputs, and the outputs kcc computed for them.

`test/parity.safetensors` holds "input_<i>" (float32, or int32 ids drawn below the
Embedding's input_dim) and "output_<i>" (float32), each shaped (n, *per-sample shape),
computed by `model.predict` at export time. The export's ctest runs the library on the
inputs and compares (test/parity_test.cpp).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import safetensors.numpy as st_numpy

from kcc.export.source import PredictUnit

SAMPLES = 5


def sample_inputs(unit: PredictUnit, n: int = SAMPLES, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = []
    for i, name in enumerate(unit.graph.inputs):
        v = unit.graph.values[name]
        if v.dtype == "int32":
            xs.append(rng.integers(0, unit.input_bound(i) or 10, (n,) + v.shape).astype(np.int32))
        else:
            xs.append(rng.uniform(-1.0, 1.0, (n,) + v.shape).astype(np.float32))
    return xs


def write(model, unit: PredictUnit, path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    xs = sample_inputs(unit)
    ys = model.predict(dict(zip(unit.graph.input_names, xs)), verbose=0)
    ys = [np.asarray(y, np.float32) for y in (ys if isinstance(ys, (list, tuple)) else [ys])]
    tensors = {f"input_{i}": np.ascontiguousarray(x) for i, x in enumerate(xs)}
    tensors.update({f"output_{i}": np.ascontiguousarray(y) for i, y in enumerate(ys)})
    st_numpy.save_file(tensors, str(path), metadata={"samples": str(len(xs[0]))})
    return xs, ys
