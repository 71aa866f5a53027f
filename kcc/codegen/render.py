"""render(graph, plans) -> the C++ or CUDA text of one model unit (templates/module/model.j2)."""
from __future__ import annotations

import zlib
from dataclasses import dataclass

from kcc.codegen.env import environment, family
from kcc.codegen.io import OpIO, declarations, grad_name
from kcc.graph.ir import Graph
from kcc.metrics import RATIOS
from kcc.passes.plan import ALIGN, IDENTITY_IN_INFERENCE, Plan, plan_predict, workspace_offsets


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass
class Layout:
    """Where each weight's gradient and optimizer slots live in the flat buffers. After the
    weights' slots, opt_state holds the optimizer's state for all weights (global_offset,
    Nadam's u_product), then, when gradients are clipped by a norm, the CUDA unit's scratch
    for the squared norms (norms_offset: one float per trainable weight and their total;
    the C++ unit computes them in each thread instead). Saved with the rest; the same
    layout on both backends, so a saved state loads on either."""
    grad_offset: list[int]
    state_offset: list[int]
    grads_size: int
    state_size: int
    global_offset: int = 0
    norms_offset: int = 0


def layout(g: Graph, n_slots: int) -> Layout:
    go, so, gtop, stop = [], [], 0, 0
    for w in g.weights:
        if w.trainable:
            go.append(gtop)
            so.append(stop)
            gtop += _align(w.size)
            stop += n_slots * _align(w.size)
        else:
            go.append(-1)
            so.append(-1)
    opt = g.optimizer
    if opt is None:
        return Layout(go, so, gtop, stop)
    norms = sum(w.trainable for w in g.weights) + 1 if opt.clip in ("clipnorm", "global_clipnorm") else 0
    return Layout(go, so, gtop, stop + opt.n_global + norms, stop, stop + opt.n_global)


def stat_names(g: Graph) -> list[str]:
    """Names of the accumulators: Keras's log keys (loss, <out>_loss..., the metrics, then
    the weighted metrics, named as Keras 3 names them), then, per output with weighted
    metrics, its weight sum, the hidden divisor WEIGHT_SUM + <output> (kept out of the
    logs), then each ratio metric's denominator (kcc.metrics.RATIOS), hidden as
    DENOMINATOR + <its log key>. Also records in each Loss where its stats accumulate."""
    names = ["loss"]
    multi = len(g.losses) > 1
    if multi:
        names += [f"{g.output_names[l.index]}_loss" for l in g.losses]
    counters = {}    # Keras's CompileMetrics.result(): a repeated name gets _1, _2, ...

    def key(out, display):
        return f"{out}_{display}" if multi else display

    for l in g.losses:
        l.metric_stats = []
        for display, _ in l.metrics:
            name = key(g.output_names[l.index], display)
            if name in counters:
                counters[name] += 1
                name = f"{name}_{counters[name] - 1}"
            else:
                counters[name] = 1
            l.metric_stats.append(len(names))
            names.append(name)
    for l in g.losses:   # a weighted metric named as a metric is weighted_<name>
        l.weighted_stats = []
        for display, _ in l.weighted_metrics:
            out = g.output_names[l.index]
            name = key(out, display)
            if name in counters:
                name = key(out, f"weighted_{display}")
                if name in counters:
                    counters[name] += 1
                    name = f"{name}_{counters[name] - 1}"
                else:
                    counters[name] = 1
            else:
                counters[name] = 1
            l.weighted_stats.append(len(names))
            names.append(name)
    for l in g.losses:
        l.weight_stat = -1
        if l.weighted_metrics:
            l.weight_stat = len(names)
            names.append(WEIGHT_SUM + g.output_names[l.index])
    for l in g.losses:
        for metrics, stats, dens in ((l.metrics, l.metric_stats, "metric_dens"),
                                     (l.weighted_metrics, l.weighted_stats, "weighted_dens")):
            setattr(l, dens, [])
            for (_, canonical), i in zip(metrics, stats):
                if canonical in RATIOS:
                    getattr(l, dens).append(len(names))
                    names.append(DENOMINATOR + names[i])
                else:
                    getattr(l, dens).append(-1)
    for l in g.losses:   # a masked output's metrics divide by its kept rows
        l.mask_stat = -1
        if l.mask and l.metrics:
            l.mask_stat = len(names)
            names.append(WEIGHT_SUM + "mask:" + g.output_names[l.index])
    return names


HIDDEN = "#"                        # a stat whose name starts so is not a log key
WEIGHT_SUM = "#weights:"
DENOMINATOR = "#denominator:"


def _macro_floats(fams: dict, op, macro: str, *args) -> int:
    """The number a template macro of op's family renders for `args` (floats of scratch),
    0 when the family does not define it."""
    fn = getattr(fams[op.family], macro, None)
    return int(str(fn(*args)).strip() or 0) if fn is not None else 0


def batch_scratch(g: Graph, fams: dict, training: bool) -> int:
    """Floats per batch row of scratch the CUDA unit needs beyond the memory plan: a
    template may define `scratch_per_sample(op, training)` (conv: a whole batch's im2col,
    so one GEMM covers the batch instead of a launch per sample and band). Ops run one at
    a time, so they share one region, after the planned arena rows ("SCR")."""
    # per batch row: an op folded over T timesteps runs on n * T rows
    return _align(max([_macro_floats(fams, op, "scratch_per_sample", op, training) * op.fold
                       for op in g.ops], default=0))


def fixed_scratch(g: Graph, fams: dict, predict: Plan, train: Plan | None) -> int:
    """Floats of fixed scratch (not per row) the CUDA unit needs beyond the
    plan's workspace: a template may define `fixed_scratch(op, io, training)` (split-K
    partial results, kcc::cuda::gemm_split). Ops run one at a time, so they share one
    region ("FIX", after the workspace roles)."""
    return _align(max([_macro_floats(fams, op, "fixed_scratch", op, OpIO(g, op, train or predict, train),
                                     train is not None) for op in g.ops], default=0))


def _weight_rule_headers(g: Graph, training: bool) -> set[str]:
    """kcc/ops headers of the regularizers and constraints a training unit applies."""
    ws = [w for w in g.weights if w.trainable] if training else []
    return ({"regularizers"} if any(w.regularizer for w in ws) else set()) | (
        {"constraints"} if any(w.constraint for w in ws) else set())


def render(g: Graph, predict: Plan, train: Plan | None, backend: str = "cpu") -> str:
    """The source of one model unit: C++ (backend "cpu") or CUDA (backend "cuda")."""
    test = plan_predict(g, outputs_external=False) if train else None
    opt = g.optimizer
    n_slots = len(opt.slots) if opt is not None else 0
    lay = layout(g, n_slots)
    fams = {op.family: family(op.family, backend) for op in g.ops}
    for k, op in enumerate(g.ops):
        if op.family in IDENTITY_IN_INFERENCE:
            # Each dropout or noise draws its own stream. The salt is the op's position, not
            # its name: auto names change when the same model is built twice in one process,
            # and a seeded run must not (nor should the generated code, for the cache).
            op.attrs["salt"] = zlib.crc32(f"{op.family}:{k}".encode())
    headers = sorted({h for f in fams.values() for h in f.headers} | {"activations"}
                     | ({"losses", "optimizers"} if train else set())
                     | _weight_rule_headers(g, train is not None))
    base_arena = max(p.arena_per_sample for p in (predict, train, test) if p is not None)
    scratch = batch_scratch(g, fams, train is not None) if backend == "cuda" else 0
    # the ops' workspace roles (Winograd tiles, im2col bands) serve the C++ templates only
    base_workspace = workspace_offsets(g)[1] if backend == "cpu" else 0
    fixed = fixed_scratch(g, fams, predict, train) if backend == "cuda" else 0
    ctx = dict(
        g=g, predict=predict, train=train, test=test, layout=lay, opt=opt, n_slots=n_slots,
        families=fams, stat_names=stat_names(g) if train else [],
        io=lambda op, plan: OpIO(g, op, plan, train),
        declarations=lambda plan: declarations(g, plan, grads=plan.mode == "train"),
        grad_name=grad_name,
        inference_ops=[op for op in g.ops if op.family not in IDENTITY_IN_INFERENCE],
        align=_align, headers=headers,
        arena_per_sample=base_arena + scratch, scratch_per_sample=scratch,
        workspace_size=base_workspace + fixed, fixed_offset=base_workspace, fixed_size=fixed,
        cuda=backend == "cuda",
        # an op whose training forward reads statistics of the whole batch (batch_norm), a
        # loss that divides by the batch's kept rows (a masked one: test steps too)
        whole_batch=(1 if any(op.attrs.get("batch_stats") for op in g.ops) else 0)
                    | (3 if any(l.mask for l in g.losses) else 0),
    )
    return environment().get_template("module/model.j2").render(**ctx)


def prelude(backend: str, headers: list[str]) -> str:
    """The #include lines of a unit (templates/module/includes.j2) with every kcc/ops header
    in `headers`: what kcc/build/pch.py precompiles once for all the units of a backend."""
    return environment().get_template("module/includes.j2").render(cuda=backend == "cuda",
                                                                   headers=sorted(headers))
