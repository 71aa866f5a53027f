"""The loss code of a generated unit (templates/losses, row_stats) has no stray blank lines:
a two-output model with metrics and weighted metrics, rendered for the CPU and for CUDA
without building."""
import pytest

import kcc.training.trainer as trainer
from kcc.codegen import render
from kcc.codegen.canonical import canonical
from kcc.layers import Dense, Input
from kcc.models import Model
from kcc.passes import optimize, plan_memory


class _Rendered(Exception):
    pass


class _RenderOnly:
    """Stands in for NativeModel: renders the compiled graph's units and stops."""
    def __init__(self, graph, what, device="cpu"):
        units = {}
        for backend in ("cpu", "cuda"):
            unit = canonical(optimize(graph.copy(), backend))
            units[backend] = render(unit, *plan_memory(unit), backend=backend)
        raise _Rendered(units)


def _row_loops(source):
    """Each row loop's body from its loss value to its closing brace, as lines."""
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if "const float l = " in line:
            end = next(j for j in range(i, len(lines)) if lines[j].strip() in ("}", "});"))
            yield lines[i:end]


def test_row_loops_have_no_blank_lines(monkeypatch):
    monkeypatch.setattr(trainer, "NativeModel", _RenderOnly)
    x = Input(shape=(6,))
    h = Dense(4, activation="tanh")(x)
    model = Model(x, [Dense(3, activation="softmax")(h), Dense(1)(h)])
    with pytest.raises(_Rendered) as units:
        model.compile("sgd", ["categorical_crossentropy", "mse"], metrics=["accuracy"],
                      weighted_metrics=["mae"])
    for device, source in units.value.args[0].items():
        loops = list(_row_loops(source))
        assert len(loops) == 4, device          # two outputs, in evaluate and in train
        for body in loops:
            assert all(line.strip() for line in body), f"{device}:\n" + "\n".join(body)
