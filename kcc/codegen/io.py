"""Names the templates use for an op's buffers in one step function.

Templates never compute offsets or decide accumulation: they ask an `OpIO` for the C
variable that holds an input, an output, a weight or a gradient, and whether a
backward overwrites or adds to it. The step functions declare those variables once
(see `declarations`), named after the tensors, so the generated code reads like a
hand-written llm.c layer sequence.
"""
from __future__ import annotations

from dataclasses import dataclass

from kcc.graph.ir import Graph, Op
from kcc.passes.plan import Plan


def grad_name(storage: str) -> str:
    return "d_" + storage


@dataclass
class OpIO:
    g: Graph
    op: Op
    plan: Plan              # the plan of the step function this call sits in
    train: Plan | None      # the training plan (gradient decisions), if any

    @property
    def n(self) -> str:
        """The rows this op runs on: the batch, times the timesteps folded into it."""
        return "n" if self.op.fold == 1 else f"n * {self.op.fold}"

    def _at(self, plan: Plan, name: str, grad: bool = False) -> str:
        """The C pointer to a value (or its gradient): its storage, plus the column offset
        when it lives inside the rows of a concatenation, or the rows of the calls before
        it when it is one call's block of a stacked op's rows."""
        storage = plan.storage(name)
        base = grad_name(storage) if grad else storage
        blk = plan.block(name)
        if blk is not None:
            i, _, per_sample = blk
            return base if i == 0 else f"({base} + {i} * n * {per_sample})"
        off = self.g.values[name].slice_offset
        return base if off is None else f"({base} + {off})"

    def y_sliced(self, i: int = 0) -> bool:
        return self.g.values[self.op.outputs[i]].slice_offset is not None

    def y_sample_stride(self, i: int = 0) -> int:
        """Floats from one row's output to the next: the whole concatenation's row when
        the output is a slice of one, else the output's own size."""
        v = self.g.values[self.op.outputs[i]]
        if v.slice_offset is None:
            return v.size
        return self.g.values[self.plan.storage(v.name)].footprint

    # -- forward -------------------------------------------------------------------------
    def x(self, i: int = 0) -> str:
        return self._at(self.plan, self.op.inputs[i])

    def y(self, i: int = 0) -> str:
        return self._at(self.plan, self.op.outputs[i])

    def workspace(self, role: str) -> str:
        """Fixed-size scratch of this op (see GraphBuilder.op); lives after the batch arena."""
        from kcc.passes.plan import workspace_offsets
        return f"WS + {workspace_offsets(self.g)[0][(self.op.name, role)]}"

    def saved(self, role: str) -> str:
        """A buffer the forward keeps for the backward (see GraphBuilder.op)."""
        return self.plan.storage(self.op.saved[role])

    def in_shape(self, i: int = 0) -> tuple[int, ...]:
        return self.g.values[self.op.inputs[i]].shape

    def out_shape(self, i: int = 0) -> tuple[int, ...]:
        return self.g.values[self.op.outputs[i]].shape

    def in_size(self, i: int = 0) -> int:
        return self.g.values[self.op.inputs[i]].size

    def in_ctype(self, i: int = 0) -> str:
        """The C element type of input i: int32_t for ids, else float."""
        return "int32_t" if self.g.values[self.op.inputs[i]].dtype == "int32" else "float"

    def out_size(self, i: int = 0) -> int:
        return self.g.values[self.op.outputs[i]].size

    def w(self, i: int) -> str:
        slot = self.op.weights[i]
        return "nullptr" if slot is None else self.g.weights[slot].cname

    def has_w(self, i: int) -> bool:
        return i < len(self.op.weights) and self.op.weights[i] is not None

    # -- backward (training plan only) -------------------------------------------------------
    def dx(self, i: int = 0) -> str:
        r = self.train.storage(self.op.inputs[i])
        return self._at(self.train, self.op.inputs[i], grad=True) if r in self.train.needs_grad else "nullptr"

    def needs_dx(self, i: int = 0) -> bool:
        return self.train.storage(self.op.inputs[i]) in self.train.needs_grad

    def acc_dx(self, i: int = 0) -> bool:
        """Whether this backward adds to dx (False when it writes first, or has no dx)."""
        return self.train.accumulate.get((self.op.name, f"in{i}"), False)

    def dy(self, i: int = 0) -> str:
        return self._at(self.train, self.op.outputs[i], grad=True)

    def zero_dy(self, i: int = 0) -> bool:
        return (self.op.name, "zero:" + self.train.storage(self.op.outputs[i])) in self.train.accumulate

    def dw(self, i: int) -> str:
        slot = self.op.weights[i]
        if slot is None or not self.g.weights[slot].trainable:
            return "nullptr"
        return grad_name(self.g.weights[slot].cname)

    def needs_dw(self, i: int) -> bool:
        slot = self.op.weights[i] if i < len(self.op.weights) else None
        return slot is not None and self.g.weights[slot].trainable

    def acc_dw(self, i: int) -> bool:
        return self.train.accumulate.get((self.op.name, f"w:{self.op.weights[i]}"), False)


def declarations(g: Graph, plan: Plan, grads: bool) -> list[tuple[str, str, str]]:
    """(C type, name, initializer) for every buffer a step function touches."""
    out = []
    for storage, (kind, i) in sorted(plan.external.items(), key=lambda kv: (kv[1][0], kv[1][1])):
        v = g.values[storage]
        ctype = "int32_t" if v.dtype == "int32" else "float"
        if kind == "input":
            out.append((f"const {ctype}*", storage, f"(const {ctype}*)run->inputs[{i}]"))
        else:
            out.append(("float*", storage, f"run->outputs[{i}]"))
    for storage, off in sorted(plan.offsets.items(), key=lambda kv: kv[1]):
        name = grad_name(storage[2:]) if storage.startswith("d:") else storage
        out.append(("float*", name, f"A + {off} * cap"))
    return out
