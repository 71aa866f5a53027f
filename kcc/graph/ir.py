"""The flat IR a model lowers to: plain dataclasses, printable, hashable by content.

A Graph holds values (tensors with static per-sample shapes; the batch is the only
runtime size), weight slots (one per layer weight, however many times the layer is
called) and ops in topological order. Nothing here knows about Keras classes or C++.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from math import prod
from typing import Any


@dataclass
class Value:
    name: str                  # a C identifier, unique in the graph ("dense_1", "input_1")
    shape: tuple[int, ...]     # per-sample shape: the batch axis is implicit
    dtype: str = "float32"
    producer: str | None = None   # name of the op that writes it; None for model inputs
    view_of: str | None = None    # a view shares the storage of this value (no copy)
    fold: int = 1                 # rows per sample: inside TimeDistributed, the T timesteps
                                  # are folded into the batch and `shape` excludes them
    slice_offset: int | None = None  # set when this value lives inside each row of `view_of`
                                     # (a concatenation its producer writes into directly)
    row_block: int | None = None  # set when this value is rows [i n, (i + 1) n) of `view_of`, which
                                  # holds the rows of every call of a stacked op (passes/stack.py)

    @property
    def size(self) -> int:
        """Elements per row as the op sees it."""
        return prod(self.shape)

    @property
    def footprint(self) -> int:
        """Elements per sample in memory (what the memory plan reserves)."""
        return prod(self.shape) * self.fold


@dataclass
class WeightSlot:
    index: int
    name: str                  # "dense_1/kernel"
    shape: tuple[int, ...]
    trainable: bool
    buffer: Any = field(repr=False, compare=False)  # the layer's own float32 array
    cname: str = ""            # C identifier, unique among values and weights ("dense_1_kernel")
    regularizer: tuple[float, float] | None = None  # (l1, l2): l1 sum|w| + l2 sum w^2 joins the loss
    constraint: tuple | None = None  # after each update: ("non_neg",), or ("norm", outer, reduce,
                               # inner, min, max, rate): the norm over `reduce` of the weight
                               # viewed as (outer, reduce, inner), rescaled as kcc/ops/constraints.h

    @property
    def size(self) -> int:
        return prod(self.shape)


@dataclass
class Op:
    name: str                  # "dense_1" (a second call of a layer gets "dense_1_call2")
    family: str                # template family: "dense", "activation", "dropout"
    inputs: list[str]
    outputs: list[str]
    weights: list[int | None]  # weight slot indices, None for an absent weight (no bias)
    attrs: dict[str, Any] = field(default_factory=dict)
    layer: str = ""            # the layer's name, for error messages
    saved: dict[str, str] = field(default_factory=dict)  # role -> value the forward keeps for
                                                         # backward (LSTM gates...); no gradient
    fold: int = 1              # the op runs on n * fold rows (inside TimeDistributed)
    workspace: dict[str, int] = field(default_factory=dict)  # role -> floats of scratch that
                                # does not grow with the batch (im2col of one sample...)


@dataclass
class Loss:
    output: str                # value the loss reads (a model output)
    kind: str                  # canonical loss name
    weight: float              # loss_weights entry
    target_shape: tuple[int, ...]
    target_dtype: str
    metrics: list[tuple[str, str]] = field(default_factory=list)  # (display, canonical)
    fused: str | None = None   # "softmax" / "sigmoid" when the gradient skips that activation
    index: int = 0             # output position
    metric_stats: list[int] = field(default_factory=list)  # where each metric accumulates
    weighted_metrics: list[tuple[str, str]] = field(default_factory=list)  # (display, canonical)
    weighted_stats: list[int] = field(default_factory=list)  # where each accumulates sum(w m)
    weight_stat: int = -1      # where sum(w) accumulates, the weighted metrics' divisor
    metric_dens: list[int] = field(default_factory=list)    # per metric: where a ratio's
    weighted_dens: list[int] = field(default_factory=list)  # denominator accumulates, or -1
    label_smoothing: float = 0.0  # compiled in: the loss reads y (1 - ls) + ls / classes (or / 2)
    delta: float = 1.0         # compiled in: Huber's delta (other losses ignore it)
    mask: str | None = None    # the output's Keras mask (1 kept, 0 masked per row): Keras 3
                               # weighs the loss by it over the batch's kept rows, the
                               # metrics over the epoch's
    mask_stat: int = -1        # where sum(mask) accumulates, the masked metrics' divisor


@dataclass
class Graph:
    name: str
    inputs: list[str]
    outputs: list[str]
    output_names: list[str]    # the output layers' names, for the ABI and logs
    input_names: list[str]
    values: dict[str, Value]
    weights: list[WeightSlot]
    ops: list[Op]
    losses: list[Loss] = field(default_factory=list)
    optimizer: Any = None      # the optimizer's structure (kind + flags) when training
    id_bounds: dict[str, tuple[int, str]] = field(default_factory=dict)  # int input -> (ids must
                                                # be < this, layer that needs it), checked in Python
    output_masks: list = field(default_factory=list)  # per output its Keras mask's value, or
                                                # None (what a loss on it weighs by)

    def value(self, name: str) -> Value:
        return self.values[name]

    def copy(self) -> "Graph":
        """A copy the passes may rewrite while this graph stays as it is. The weight slots
        are shared: they hold the layers' own buffers, which no pass changes."""
        return replace(
            self, inputs=list(self.inputs), outputs=list(self.outputs),
            output_names=list(self.output_names), input_names=list(self.input_names),
            values={k: replace(v) for k, v in self.values.items()},
            ops=[replace(op, inputs=list(op.inputs), outputs=list(op.outputs),
                         weights=list(op.weights), attrs=copy.deepcopy(op.attrs),
                         saved=dict(op.saved), workspace=dict(op.workspace)) for op in self.ops],
            losses=[replace(l, metrics=list(l.metrics), metric_stats=list(l.metric_stats),
                            weighted_metrics=list(l.weighted_metrics),
                            weighted_stats=list(l.weighted_stats),
                            metric_dens=list(l.metric_dens), weighted_dens=list(l.weighted_dens))
                    for l in self.losses],
            id_bounds=dict(self.id_bounds), output_masks=list(self.output_masks))

    def root(self, name: str) -> str:
        """The value whose storage `name` uses (follows views)."""
        v = self.values[name]
        while v.view_of is not None:
            v = self.values[v.view_of]
        return v.name

    def consumers(self, name: str) -> list[Op]:
        return [op for op in self.ops if name in op.inputs]

    def dump(self) -> str:
        lines = [f"graph {self.name}: inputs {self.inputs} -> outputs {self.outputs}"]
        for w in self.weights:
            rules = (f" regularizer(l1, l2)={w.regularizer}" if w.regularizer else "") + (
                f" constraint={w.constraint}" if w.constraint else "")
            lines.append(f"  weight[{w.index}] {w.name} {w.shape}{'' if w.trainable else ' frozen'}"
                         f"{rules}")
        for name in self.inputs:
            v = self.values[name]
            lines.append(f"  input {name}: {v.shape} {v.dtype}")
        for op in self.ops:
            outs = ", ".join(f"{o}{self.values[o].shape}" for o in op.outputs)
            fold = f" on n*{op.fold} rows" if op.fold > 1 else ""
            lines.append(f"  {outs} = {op.family}({', '.join(op.inputs)}; w={op.weights}) {op.attrs}{fold}")
        for v in self.values.values():
            if v.view_of:
                fold = f" on n*{v.fold} rows" if v.fold > 1 else ""
                where = f" at column {v.slice_offset}" if v.slice_offset is not None else ""
                where += f" rows block {v.row_block}" if v.row_block is not None else ""
                lines.append(f"  {v.name}{v.shape} = view({v.view_of}){where}{fold}")
        for loss in self.losses:
            weighted = f" weighted_metrics={loss.weighted_metrics}" if loss.weighted_metrics else ""
            smooth = f" label_smoothing={loss.label_smoothing}" if loss.label_smoothing else ""
            smooth += f" delta={loss.delta}" if loss.kind == "huber" else ""
            smooth += f" mask={loss.mask}" if loss.mask else ""
            lines.append(f"  loss {loss.kind}({loss.output}) x{loss.weight} metrics={loss.metrics}"
                         f"{weighted}{smooth}{' fused ' + loss.fused if loss.fused else ''}")
        return "\n".join(lines)


@dataclass(frozen=True)
class OptimizerSpec:
    """What of an optimizer shapes the generated code. Values that may change while
    training (learning rate, rho, weight decay, clip threshold, ...) are passed at run time
    in `hparams` instead, in the order of `hparam_names`."""
    kind: str                            # the update's template: "sgd", "adam", "nadam", ...
    slots: tuple[tuple[str, float], ...] # per-weight state buffers and their initial value
    flags: tuple[tuple[str, bool], ...] = ()  # e.g. (("momentum", True), ("nesterov", False))
    n_hparams: int = 1
    hparam_names: tuple[str, ...] = ()
    decays: tuple[bool, ...] = ()        # per graph weight: weight decay applies to it
    clip: str = ""                       # "", "clipnorm", "clipvalue" or "global_clipnorm"
    n_global: int = 0                    # floats of state for all weights (Nadam's u_product)

    def flag(self, name: str) -> bool:
        return dict(self.flags).get(name, False)

    def slot(self, name: str) -> int:
        return [s for s, _ in self.slots].index(name)

    def hp(self, name: str) -> int:
        """Index of hyperparameter `name` in run->hparams."""
        return self.hparam_names.index(name)
