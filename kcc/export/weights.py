"""The exported library's weights file: safetensors, keyed by the model's weight names.

Keys are the names the generated unit lists in its KccModelInfo ("dense_1/kernel"), one
float32 tensor each, in the layer's own shape. The metadata says which model the file
belongs to: {"format": "kcc-export-weights", "version": "1", "model": <model name>,
"fingerprint": <hash of the generated source>}. The C library checks every name, shape
and the fingerprint before it uses a byte (csrc/include/kcc/export/runtime.h).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kcc.graph.ir import Graph
from kcc.saving.weights_file import write_file

FORMAT = "kcc-export-weights"
VERSION = "1"


def write(graph: Graph, fingerprint: str, path: Path) -> None:
    tensors = {}
    for w in graph.weights:
        if w.name in tensors:
            raise ValueError(f"Two weights of model '{graph.name}' are named '{w.name}'; "
                             f"rename one of the layers to export the model.")
        tensors[w.name] = np.asarray(w.buffer, dtype=np.float32, order="C").reshape(w.shape)  # 0-d stays 0-d
    metadata = {"format": FORMAT, "version": VERSION, "model": graph.name, "fingerprint": fingerprint}
    write_file(path, tensors, metadata)   # atomic, and the same bytes for the same weights


def write_weights(model, path) -> Path:
    """Write `model`'s current weights as a weights file its export reads: after more
    training, refresh an exported library's weights without exporting again. The file
    carries the architecture's fingerprint, so only a library exported from this same
    architecture accepts it."""
    from kcc.export.source import predict_unit
    unit = predict_unit(model)
    path = Path(os.fspath(path))
    write(unit.graph, unit.fingerprint, path)
    return path
