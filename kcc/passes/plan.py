"""The memory plan: where every batch buffer lives, for predict and for training.

A plan is built from a schedule (forward ops; then losses and backward ops in reverse
for training). Each storage (a value and its views share one) lives from its first to
its last step; storages are packed into one arena by greedy first fit, largest first.
Offsets are in floats *per batch row*: the driver sizes the arena for `capacity` rows and
a storage starts at `offset * capacity`, so one plan serves every batch size and a step
never allocates.

Gradients of activations get storages of their own ("d:<value>"). Which backward writes a
gradient first is decided here, statically: that one overwrites, later ones accumulate
(`+=`), which makes fan-out and shared layers right by construction. A stacked op's output
(passes/stack.py) is written in row blocks, one per call, so that decision is made per
block.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kcc.graph.ir import Graph, Op

ALIGN = 16                       # floats: keeps every storage 64-byte aligned
IDENTITY_IN_INFERENCE = {"dropout", "noise"}   # training-only randomness
# saved roles the forward fills only in training (a Dense's kept pre-activation, see
# passes/fusion.py): no room for them in predict
TRAIN_ONLY_SAVED = {"preact"}


@dataclass
class Plan:
    mode: str                                   # "predict" or "train"
    offsets: dict[str, int]                     # storage -> per-row float offset in the arena
    arena_per_sample: int
    external: dict[str, tuple[str, int]]        # storage -> ("input"|"output", index)
    copies_out: list[tuple[int, str]]           # predict: (output index, storage) to copy out
    roots: dict[str, str]                       # value -> storage
    needs_grad: set[str] = field(default_factory=set)       # storages that carry a gradient
    accumulate: dict[tuple[str, str], bool] = field(default_factory=dict)  # (op, "in<k>" | "w:<slot>"
                                                # | "zero:<storage>"), ("loss:<value>", storage) -> +=
    backward_ops: list[Op] = field(default_factory=list)    # reverse order, only those needed
    blocks: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # value -> (block i,
                                                # blocks, floats per sample of one): rows [i n,
                                                # (i + 1) n) of its storage (a stacked op's)

    def storage(self, value: str) -> str:
        return self.roots[value]

    def block(self, value: str) -> tuple[int, int, int] | None:
        return self.blocks.get(value)


def _roots(g: Graph, inference: bool) -> tuple[dict[str, str], dict[str, tuple[int, int, int]]]:
    """value -> its storage, and value -> its row block when the way there passes one."""
    alias = {v.name: v.view_of for v in g.values.values() if v.view_of}
    if inference:
        for op in g.ops:
            if op.family in IDENTITY_IN_INFERENCE:
                alias[op.outputs[0]] = op.inputs[0]
    roots, blocks = {}, {}
    for name in g.values:
        r = name
        while r in alias:
            v = g.values[r]
            if v.row_block is not None:
                if name in blocks:
                    raise RuntimeError(f"internal error: {name} lies in two row blocks")
                blocks[name] = (v.row_block, g.values[v.view_of].fold, v.footprint)
            r = alias[r]
        roots[name] = r
    return roots, blocks


class _Written:
    """Which gradient storages (or row blocks of them) some backward has written so far:
    the next writer of one accumulates."""

    def __init__(self, blocks: dict[str, tuple[int, int, int]]):
        self.blocks = blocks
        self.whole: set[str] = set()
        self.parts: dict[str, tuple[set[int], int]] = {}   # storage -> (blocks written, of)

    def has(self, storage: str) -> bool:
        """Whether all of `storage` holds a gradient (every block of a stacked one)."""
        if storage in self.whole:
            return True
        if storage not in self.parts:
            return False
        done, count = self.parts[storage]
        if len(done) != count:   # passes/stack.py stacks only calls whose outputs are all read
            raise RuntimeError(f"internal error: the gradient of {storage} is needed whole with "
                               f"only row blocks {sorted(done)} of {count} written")
        return True

    def write(self, storage: str, value: str) -> bool:
        """Record a write of `value` (which lives in `storage`); True when it must add."""
        blk = self.blocks.get(value)
        if blk is None:
            acc = self.has(storage)
            self.whole.add(storage)
            return acc
        done, _ = self.parts.setdefault(storage, (set(), blk[1]))
        acc = storage in self.whole or blk[0] in done
        done.add(blk[0])
        return acc


def _pack(intervals: dict[str, tuple[int, int]], sizes: dict[str, int]) -> tuple[dict[str, int], int]:
    placed: list[tuple[int, int, int, int]] = []   # (offset, end, first, last)
    offsets = {}
    order = sorted(intervals, key=lambda s: (-sizes[s], intervals[s][0], s))
    for s in order:
        lo, hi = intervals[s]
        size = -(-sizes[s] // ALIGN) * ALIGN
        busy = sorted((o, e) for o, e, a, b in placed if not (b < lo or a > hi))
        off = 0
        for o, e in busy:
            if off + size <= o:
                break
            off = max(off, e)
        offsets[s] = off
        placed.append((off, off + size, lo, hi))
    top = max((e for _, e, _, _ in placed), default=0)
    return offsets, top


def _touch(live: dict[str, list[int]], storage: str, step: int) -> None:
    iv = live.setdefault(storage, [step, step])
    iv[0] = min(iv[0], step)
    iv[1] = max(iv[1], step)


def plan_predict(g: Graph, outputs_external: bool = True) -> Plan:
    """Inference plan. With `outputs_external` the model outputs are written straight into
    the caller's buffers (predict); without, they stay in the arena (evaluate)."""
    roots, blocks = _roots(g, inference=True)
    external = {roots[n]: ("input", i) for i, n in enumerate(g.inputs)}
    copies = []
    for i, n in enumerate(g.outputs):
        r = roots[n]
        if not outputs_external:
            continue
        if r in external:           # an output that is an input (or its view) or a repeat
            copies.append((i, r))
        else:
            external[r] = ("output", i)
    live: dict[str, list[int]] = {}
    step = 0
    for op in g.ops:
        if op.family in IDENTITY_IN_INFERENCE:
            continue
        saved = [v for role, v in op.saved.items() if role not in TRAIN_ONLY_SAVED]
        for v in op.inputs + op.outputs + saved:   # saved: scratch here
            _touch(live, roots[v], step)
        step += 1
    # evaluate: the outputs, and what the losses read (an int32 output's float32 cast), stay
    # live until the losses run
    kept = [] if outputs_external else [roots[n] for n in g.outputs + [l.output for l in g.losses]
                                        + [l.mask for l in g.losses if l.mask]]
    for r in [r for _, r in copies] + kept:
        _touch(live, r, step)
    internal = {s: tuple(iv) for s, iv in live.items() if s not in external}
    sizes = {s: g.values[s].footprint for s in internal}
    offsets, top = _pack(internal, sizes)
    return Plan("predict" if outputs_external else "test", offsets, top, external, copies, roots,
                blocks=blocks)


def _grad_flags(g: Graph, roots: dict[str, str]) -> set[str]:
    """Storages whose gradient someone needs: downstream of a trainable weight."""
    needs: set[str] = set()
    for op in g.ops:
        if op.family == "mask":         # which steps are kept: no gradient flows through it
            continue
        trainable = any(w is not None and g.weights[w].trainable for w in op.weights)
        if trainable or any(roots[i] in needs for i in op.inputs):
            needs.update(roots[o] for o in op.outputs)
    return needs


def plan_train(g: Graph) -> Plan:
    roots, blocks = _roots(g, inference=False)
    needs = _grad_flags(g, roots)
    external = {roots[n]: ("input", i) for i, n in enumerate(g.inputs)}
    live: dict[str, list[int]] = {}
    step = 0
    for op in g.ops:
        for v in op.inputs + op.outputs + list(op.saved.values()):
            _touch(live, roots[v], step)
        step += 1
    accumulate: dict[tuple[str, str], bool] = {}
    written = _Written(blocks)
    weights_written: set[int] = set()
    for loss in g.losses:
        r = roots[loss.output]
        _touch(live, r, step)
        if loss.mask:
            _touch(live, roots[loss.mask], step)
        if r in needs:
            _touch(live, "d:" + r, step)
            accumulate[("loss:" + loss.output, r)] = written.write(r, loss.output)
        step += 1
    backward = []
    for op in reversed(g.ops):
        outs = [roots[o] for o in op.outputs]
        if not any(o in needs for o in outs):
            continue
        backward.append(op)
        for v in op.inputs + op.outputs + list(op.saved.values()):
            _touch(live, roots[v], step)
        for o, name in zip(outs, op.outputs):
            _touch(live, "d:" + o, step)
            if not written.has(o):       # nothing flowed back into it: start from zero
                accumulate[(op.name, "zero:" + o)] = False
                written.write(o, name)
        for k, i in enumerate(op.inputs):   # keyed by position: an op may read one storage twice
            r = roots[i]
            if r in needs:
                _touch(live, "d:" + r, step)
                accumulate[(op.name, f"in{k}")] = written.write(r, i)
        for w in op.weights:             # a shared layer's later uses add to its gradient
            if w is not None and g.weights[w].trainable:
                accumulate[(op.name, f"w:{w}")] = w in weights_written
                weights_written.add(w)
        step += 1
    internal = {s: tuple(iv) for s, iv in live.items() if s not in external}
    sizes = {s: g.values[s.removeprefix("d:")].footprint for s in internal}
    offsets, top = _pack(internal, sizes)
    return Plan("train", offsets, top, external, [], roots, needs, accumulate, backward, blocks)


def workspace_offsets(g: Graph) -> tuple[dict[tuple[str, str], int], int]:
    """Offsets of each op's workspace roles in the shared fixed region, and its size: ops
    run one after another, so every op's workspace starts at 0."""
    offsets, top = {}, 0
    for op in g.ops:
        off = 0
        for role, size in op.workspace.items():
            offsets[(op.name, role)] = off
            off += -(-size // ALIGN) * ALIGN
        top = max(top, off)
    return offsets, top


def plan_memory(g: Graph) -> tuple[Plan, Plan | None]:
    """The predict plan, and the training plan when the graph has losses."""
    return plan_predict(g), (plan_train(g) if g.losses else None)
