"""The memory plan as plain data: no compiler needed."""
import numpy as np

from kcc.graph.ir import Loss
from kcc.graph.trace import GraphBuilder
from kcc.passes import fuse, plan_memory


class W:
    def __init__(self, path, shape):
        self.path, self.shape, self.trainable = path, shape, True
        self.value = np.zeros(shape, np.float32)


def mlp_graph(widths=(8, 6, 4), reuse_input_twice=False):
    b = GraphBuilder("m")
    x = b.add_input("input_1", (widths[0],), "float32")
    h = x
    for i, n in enumerate(widths[1:]):
        b.begin_node(f"dense_{i + 1}", 0)
        h = b.op("dense", [h], (n,), weights=[W(f"dense_{i + 1}/kernel", (h.shape[0], n)), None],
                 attrs={"activation": "relu", "units": n})
    if reuse_input_twice:
        b.begin_node("add_1", 0)
        h = b.op("elementwise", [h, h], h.shape, attrs={"mode": "sum"})
    g = b.graph
    g.outputs, g.output_names = [h.name], ["out"]
    g.losses = [Loss(h.name, "mean_squared_error", 1.0, h.shape, "float32")]
    return fuse(g)


def overlaps(plan, g):
    """Pairs of storages that share arena bytes while both are live."""
    spans = {s: (off, off + g.values[s.removeprefix("d:")].size) for s, off in plan.offsets.items()}
    return [(a, b) for a in spans for b in spans if a < b
            and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]


def test_predict_plan_reuses_memory_and_writes_outputs_in_place():
    g = mlp_graph(widths=(8, 32, 32, 32, 4))
    predict, _ = plan_memory(g)
    assert predict.external[g.inputs[0]] == ("input", 0)
    assert predict.external[g.outputs[0]] == ("output", 0)
    # three hidden buffers of 32, but two suffice: each dies once the next layer read it
    assert predict.arena_per_sample == 64


def test_train_plan_keeps_what_backward_reads_and_aligns():
    g = mlp_graph()
    _, train = plan_memory(g)
    assert all(off % 16 == 0 for off in train.offsets.values())
    for s in ("dense_1", "dense_2", "d:dense_1", "d:dense_2"):
        assert s in train.offsets
    assert "d:input_1" not in train.offsets          # no gradient for a model input
    assert [op.name for op in train.backward_ops] == ["dense_2", "dense_1"]
    # the forward activations live until backward: dense_1 and dense_2 never share bytes
    assert ("dense_1", "dense_2") not in overlaps(train, g)


def test_an_op_reading_one_storage_twice_overwrites_then_adds():
    g = mlp_graph(reuse_input_twice=True)
    _, train = plan_memory(g)
    assert train.accumulate[("add_1", "in0")] is False
    assert train.accumulate[("add_1", "in1")] is True


def test_workspaces_share_one_fixed_region():
    from kcc.passes.plan import workspace_offsets
    g = mlp_graph()
    g.ops[0].workspace = {"cols": 100, "tmp": 5}
    g.ops[1].workspace = {"cols": 300}
    offsets, size = workspace_offsets(g)
    assert offsets[("dense_1", "cols")] == 0 and offsets[("dense_1", "tmp")] == 112  # aligned
    assert offsets[("dense_2", "cols")] == 0          # ops run one at a time: reuse
    assert size == 304


def test_a_stacked_output_is_written_block_by_block():
    """A shared Dense on two inputs, stacked (passes/stack.py): block 0 of its output has
    two readers, block 1 one. The first writer of each block overwrites, later ones add;
    the stacked op then reads the whole gradient, zeroing nothing; the pointers of the
    blocks are n rows apart."""
    from kcc.codegen.io import OpIO
    from kcc.passes import stack_shared_calls
    b = GraphBuilder("m")
    xa = b.add_input("a", (3,), "float32")
    xb = b.add_input("b", (3,), "float32")
    kernel = W("shared/kernel", (3, 4))
    outs = []
    for k, x in enumerate((xa, xb)):
        b.begin_node("shared", k)
        outs.append(b.op("dense", [x], (4,), weights=[kernel, None], attrs={"activation": "linear", "units": 4}))
    ya, yb = outs
    b.begin_node("add_1", 0)
    s = b.op("elementwise", [ya, yb], (4,), attrs={"mode": "sum"})
    b.begin_node("head", 0)
    h = b.op("dense", [ya], (4,), weights=[W("head/kernel", (4, 4)), None], attrs={"activation": "linear", "units": 4})
    b.begin_node("add_2", 0)
    out = b.op("elementwise", [s, h], (4,), attrs={"mode": "sum"})
    g = b.graph
    g.outputs, g.output_names = [out.name], ["out"]
    g.losses = [Loss(out.name, "mean_squared_error", 1.0, (4,), "float32")]
    g = stack_shared_calls(fuse(g), "cuda")
    stacked = next(op for op in g.ops if op.fold == 2)
    _, train = plan_memory(g)
    assert train.blocks[ya.name] == (0, 2, 4) and train.blocks[yb.name] == (1, 2, 4)
    acc = train.accumulate
    head, add_1 = (next(op for op in g.ops if op.name == name) for name in ("head", "add_1"))
    # backward order: add_2, head (block 0 first: overwrite), add_1 (block 0: add; block 1: overwrite)
    assert acc[("head", "in0")] is False
    assert acc[("add_1", "in0")] is True and acc[("add_1", "in1")] is False
    assert (stacked.name, "zero:" + stacked.outputs[0]) not in acc
    io = OpIO(g, add_1, train, train)
    assert io.dx(0) == "d_" + stacked.outputs[0] and io.dx(1) == f"(d_{stacked.outputs[0]} + 1 * n * 4)"
