"""The model source an export ships: the same predict unit `model.predict` builds.

`predict_unit(model)` lowers the model, runs the passes and renders the predict plan
only (no training functions, no optimizer), exactly as an uncompiled model's predict
does. Its fingerprint, a hash of that source, names the architecture: the weights file
records it and the library refuses a file written for anything else.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from kcc.codegen import render
from kcc.graph.ir import Graph
from kcc.graph.trace import lower
from kcc.passes import optimize, plan_memory
from kcc.passes.plan import Plan

_INCLUDE = re.compile(r'^\s*#\s*include\s+"(kcc/[^"]+)"', re.MULTILINE)

# Headers the export's own C++ (the C API, the parity test) includes besides the model's.
EXPORT_HEADERS = ("kcc/export/safetensors.h", "kcc/export/runtime.h")


@dataclass
class PredictUnit:
    graph: Graph
    plan: Plan
    source: str            # the C++ unit: kcc_model_info, kcc_predict
    fingerprint: str       # sha256 of the source, 32 hex digits

    def input_bound(self, i: int) -> int:
        """Ids of input i must lie in [0, bound); 0 when it holds no ids."""
        bound = self.graph.id_bounds.get(self.graph.inputs[i])
        return 0 if bound is None else int(bound[0])


def predict_unit(model) -> PredictUnit:
    graph = optimize(lower(model))
    plan, _ = plan_memory(graph)
    source = render(graph, plan, None)
    return PredictUnit(graph, plan, source, hashlib.sha256(source.encode()).hexdigest()[:32])


def runtime_headers(source: str, include_dir: Path) -> list[str]:
    """Every kcc header `source` and the export's own C++ include, directly or through
    other headers, as paths relative to `include_dir` ("kcc/gemm.h", ...), sorted."""
    todo = _INCLUDE.findall(source) + list(EXPORT_HEADERS)
    seen: set[str] = set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        path = include_dir / rel
        if not path.is_file():
            raise RuntimeError(f"kcc's header {rel} is missing from {include_dir}; reinstall kcc")
        seen.add(rel)
        todo += _INCLUDE.findall(path.read_text())
    return sorted(seen)
