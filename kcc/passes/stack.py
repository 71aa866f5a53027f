"""Stacking: the independent calls of a shared layer run as one op on k times the rows.

A layer called k times (the guide's shared LSTM over two tweets, its shared vision model
over two digits) lowers to k ops that read the same weights. When no call depends on
another, one op can do all of them on n * k rows, call i's rows being rows [i n, (i + 1) n)
of the stacked input and output: GEMMs k times taller, k times fewer launches, and the
recurrences of all calls advancing together instead of one after the other (on a GPU,
64 busy multiprocessors instead of 32 twice). The weight gradient of the stacked op sums
over all its rows, which is the sum over calls a shared layer needs.

Each call's output becomes a view of its row block of the stacked output
(`Value.row_block`), so whoever read it reads it in place. The stacked input is the
previous stacked op's output when the calls' inputs are its blocks in order (a shared
vision model stacks as a chain and copies nothing past its first layer), else a new
value: the ops computing the calls' inputs write into its blocks when nothing else reads
those, otherwise (model inputs, say) a `stack` op copies each call's input into its block.

Left as they are: calls inside TimeDistributed (their rows are folded already), dropout
(its random stream is numbered by row), calls whose output is a model output or unread,
calls one of which feeds another, embeddings (see STACKABLE), and a weightless
layer's calls whose inputs would need copying (the copy costs what the op does).
On the GPU only, by default (see `enabled`); KCC_STACK_SHARED=0 or 1 decides for both.
"""
from __future__ import annotations

from kcc.graph.ir import Graph, Op, Value
from kcc.passes.plan import IDENTITY_IN_INFERENCE
from kcc.utils.env import env_flag

# Families whose kernels treat every row alike, so n * k rows are just a bigger batch.
# (Not embedding: its ids come straight from model inputs, so stacking would copy them into
# an integer buffer, and the arena holds floats.)
STACKABLE = {"activation", "conv2d", "dense", "dot", "elementwise", "pool2d", "recurrent",
             "transpose", "zero_pad2d"}


def enabled(device: str) -> bool:
    """On for the GPU, off for the CPU unless KCC_STACK_SHARED=1. Measured on the 2-core
    CPU (medians of 5, two runs each): W3 1,890 / 1,839 samples/s stacked against 1,998 /
    2,067 not, W4 1,582 / 1,577 against 1,604 / 1,635. Each core already takes its slice
    of the batch, so a taller GEMM gains little there, and copying the tweets into the
    stacked input (4.6 MB a core a step) costs about what W3 loses."""
    return env_flag("KCC_STACK_SHARED", device == "cuda")


def _views(g: Graph, name: str) -> list[str]:
    """`name` and every value that is a view of it, transitively."""
    out, todo = [], [name]
    while todo:
        v = todo.pop()
        out.append(v)
        todo += [w.name for w in g.values.values() if w.view_of == v]
    return out


def _readers(g: Graph, name: str) -> list[Op]:
    """The ops that read `name` directly or through a view of it."""
    names = set(_views(g, name))
    return [op for op in g.ops if names & set(op.inputs)]


def _writers(g: Graph, ops: list[Op]) -> dict[str, set[str]]:
    """value -> the ops (of `ops`) that write its storage: one, or one per row block when
    producers write the blocks of a stacked input."""
    by_root: dict[str, set[str]] = {}
    for op in ops:
        for o in op.outputs:
            by_root.setdefault(g.root(o), set()).add(op.name)
    return {name: by_root.get(g.root(name), set()) for name in g.values}


def _ancestors(g: Graph) -> dict[str, set[str]]:
    """op -> every op it depends on (ops are in topological order)."""
    writers = _writers(g, g.ops)
    anc: dict[str, set[str]] = {}
    for op in g.ops:
        deps: set[str] = set()
        for i in op.inputs:
            for w in writers[i] - {op.name}:
                deps |= {w} | anc[w]
        anc[op.name] = deps
    return anc


def _candidate(g: Graph, op: Op) -> bool:
    if op.family not in STACKABLE or op.fold != 1 or len(op.outputs) != 1:
        return False
    y = g.values[op.outputs[0]]
    if y.view_of is not None or y.fold != 1:
        return False
    if set(_views(g, y.name)) & set(g.outputs) or not _readers(g, y.name):
        return False
    return all(g.values[i].fold == 1 and g.values[i].dtype == "float32" for i in op.inputs)


def _key(g: Graph, op: Op):
    """What must agree for calls to share one kernel: the layer, the code it renders to."""
    shapes = tuple((g.values[v].shape, g.values[v].dtype) for v in op.inputs + op.outputs)
    saved = tuple(sorted((role, g.values[v].shape) for role, v in op.saved.items()))
    return (op.layer, op.family, tuple(op.weights), repr(sorted(op.attrs.items())), shapes, saved,
            tuple(sorted(op.workspace.items())))


def _stacked_already(g: Graph, calls: list[Op], j: int) -> str | None:
    """The stacked value whose row blocks, in order, are the calls' j-th inputs and are read
    by those calls alone; None when input j needs a copy."""
    vals = [g.values[c.inputs[j]] for c in calls]
    root = vals[0].view_of
    if root is None or g.values[root].fold != len(calls):
        return None
    for i, (v, c) in enumerate(zip(vals, calls)):
        if v.view_of != root or v.row_block != i or _readers(g, v.name) != [c]:
            return None
    return root


def _writable_in_place(g: Graph, calls: list[Op], j: int) -> bool:
    """Whether the calls' j-th inputs can be written by their producers straight into their
    blocks of the stacked input: distinct values of ops (not model inputs, outputs or
    views), each read by its call alone."""
    names = [c.inputs[j] for c in calls]
    # (not dropout's: in inference its output is its input, so it writes nothing)
    outputs = {o for op in g.ops if op.family not in IDENTITY_IN_INFERENCE for o in op.outputs}
    return len(set(names)) == len(names) and all(
        n in outputs and g.values[n].view_of is None and g.values[n].fold == 1
        and n not in g.outputs and _readers(g, n) == [c] for n, c in zip(names, calls))


def _fresh(g: Graph, base: str) -> str:
    taken = set(g.values) | {op.name for op in g.ops} | {w.cname for w in g.weights}
    name, k = base, 2
    while name in taken or "d_" + name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _stack(g: Graph, calls: list[Op], inputs: list[str | None]) -> None:
    """Replace `calls` by one op on n * k rows (and a `stack` op per input to copy)."""
    k, first = len(calls), calls[0]
    new_ops = []
    stacked_inputs = []
    for j, have in enumerate(inputs):
        if have is not None:
            stacked_inputs.append(have)
            continue
        x0 = g.values[first.inputs[j]]
        name = _fresh(g, f"{first.name}_stack{j if len(inputs) > 1 else ''}")
        xs = [g.values[c.inputs[j]] for c in calls]
        if _writable_in_place(g, calls, j):   # each producer writes its block
            g.values[name] = Value(name, x0.shape, x0.dtype, fold=k)
            for i, x in enumerate(xs):
                x.view_of, x.row_block = name, i
            stacked_inputs.append(name)
            continue
        g.values[name] = Value(name, x0.shape, x0.dtype, producer=name, fold=k)
        new_ops.append(Op(name=name, family="stack", inputs=[x.name for x in xs],
                          outputs=[name], weights=[], attrs={"width": x0.size, "calls": k},
                          layer=first.layer))
        stacked_inputs.append(name)
    y0 = g.values[first.outputs[0]]
    out = _fresh(g, f"{first.name}_stacked")
    g.values[out] = Value(out, y0.shape, y0.dtype, producer=first.name, fold=k)
    for i, c in enumerate(calls):
        y = g.values[c.outputs[0]]
        y.view_of, y.row_block, y.producer = out, i, None
        if c is not first:
            for v in c.saved.values():
                del g.values[v]
    for v in first.saved.values():
        g.values[v].fold = k
    new_ops.append(Op(name=first.name, family=first.family, inputs=stacked_inputs, outputs=[out],
                      weights=list(first.weights), attrs=dict(first.attrs), layer=first.layer,
                      saved=dict(first.saved), fold=k, workspace=dict(first.workspace)))
    # in the place of the last call; the calls' readers move after it (_toposort)
    names = {c.name for c in calls}
    at = max(i for i, op in enumerate(g.ops) if op.name in names)
    ops = []
    for i, op in enumerate(g.ops):
        if i == at:
            ops += new_ops
        elif op.name not in names:
            ops.append(op)
    g.ops = _toposort(g, ops)


def _toposort(g: Graph, ops: list[Op]) -> list[Op]:
    """`ops` in an order where every op follows the writers of its inputs, otherwise
    keeping the given order."""
    writers = _writers(g, ops)
    deps = {op.name: set().union(*(writers[i] for i in op.inputs)) - {op.name} for op in ops}
    done: set[str] = set()
    out: list[Op] = []
    while len(out) < len(ops):
        op = next(op for op in ops if op.name not in done and deps[op.name] <= done)
        out.append(op)
        done.add(op.name)
    return out


def stack_shared_calls(g: Graph, device: str = "cpu") -> Graph:
    if not enabled(device):
        return g
    while True:
        anc = _ancestors(g)
        groups: dict = {}
        for op in g.ops:
            if _candidate(g, op):
                groups.setdefault(_key(g, op), []).append(op)
        for members in groups.values():
            calls: list[Op] = []
            for op in members:   # those independent of every call taken so far
                if all(op.name not in anc[c.name] and c.name not in anc[op.name] for c in calls):
                    calls.append(op)
            if len(calls) < 2:
                continue
            inputs = [_stacked_already(g, calls, j) for j in range(len(calls[0].inputs))]
            if None in inputs and all(w is None for w in calls[0].weights):   # copy for nothing
                continue
            _stack(g, calls, inputs)
            break             # the graph changed: group again
        else:
            return g
