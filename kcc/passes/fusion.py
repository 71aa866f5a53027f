"""Fusion: fold work into neighbouring kernels so it costs no extra pass over memory.

1. A standalone Activation right after a linear Dense is folded into the Dense epilogue
   (bias + activation in one pass while the output is hot in cache).
   An activation whose derivative needs its input (kcc.activations.FROM_INPUT: gelu, silu,
   mish, ...) folds into a Dense too: the Dense's forward then also stores the
   pre-activation z = x W + b, which it was computing anyway, into a saved buffer ("preact")
   for the backward. That costs the memory the unfused pair would hold (z lives until the
   backward either way) but not its extra pass over z, nor a gradient buffer for z: the
   backward turns dy into dz in place, as for relu. Recomputing z instead would be a second
   GEMM. In predict no z is stored (the memory plan gives it no room) and the epilogue is
   the plain one. A Dense(activation='gelu') gets the same buffer.
   Conv2D (and the transposed and grouped convs) has several epilogues (im2col, shifted, direct, Winograd; CUDA's own): rather than
   teach each to store z, a Conv2D with such an activation is split, in a training graph,
   into a linear conv and an Activation op, whose backward reads its input (the conv's
   output, which the plan keeps alive until then). A graph without losses (the export,
   predict before compile) has no backward: the activation stays in (or folds into) the
   epilogue, and nothing is kept.
2. softmax + categorical crossentropy and sigmoid + binary crossentropy: the loss writes
   the gradient with respect to the pre-activation (p - y) / batch directly, so backward
   skips the activation's Jacobian (cheaper, and exact where the clipped log would not be).
"""
from __future__ import annotations

from kcc.activations import FROM_INPUT
from kcc.graph.ir import Graph, Op, Value

# activation that each loss can absorb into its gradient
_FUSABLE = {"categorical_crossentropy": "softmax", "sparse_categorical_crossentropy": "softmax",
            "binary_crossentropy": "sigmoid"}
# families with an activation epilogue, and those of them that can absorb an Activation
_HAS_ACTIVATION = {"dense", "conv2d", "conv2d_transpose", "grouped_conv2d", "activation"}
_EPILOGUE = {"dense", "conv2d", "conv2d_transpose", "grouped_conv2d"}


def _fold_activations(g: Graph) -> None:
    for op in list(g.ops):
        if op.family != "activation":
            continue
        src = g.values[op.inputs[0]]
        prod = next((p for p in g.ops if p.name == src.producer), None)
        act = op.attrs["activation"]
        if "params" in op.attrs:     # an activation with arguments runs as its own op
            continue
        if (prod is None or prod.family not in _EPILOGUE or prod.attrs.get("activation") != "linear"
                or len(g.consumers(src.name)) != 1 or src.name in g.outputs
                or (act in FROM_INPUT and g.losses and prod.family != "dense")):
            continue
        # the producer now writes the activation's output value itself
        out = op.outputs[0]
        prod.attrs["activation"] = act
        prod.outputs = [out]
        g.values[out].producer = prod.name
        if act in FROM_INPUT and g.losses:    # its old output becomes the kept pre-activation
            prod.saved["preact"] = src.name
        else:
            del g.values[src.name]
        g.ops.remove(op)


def _fresh(g: Graph, base: str) -> str:
    taken = set(g.values) | {op.name for op in g.ops} | {w.cname for w in g.weights}
    name, k = base, 2
    while name in taken or "d_" + name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _keep_preactivations(g: Graph) -> None:
    """In a training graph, a Dense with an activation from FROM_INPUT saves its
    pre-activation; a Conv2D with one becomes a linear conv and an Activation op (see the
    module docstring)."""
    for op in list(g.ops):
        act = op.attrs.get("activation")
        if (not g.losses or op.family not in _EPILOGUE or act not in FROM_INPUT
                or "preact" in op.saved):
            continue
        y = g.values[op.outputs[0]]
        z = Value(_fresh(g, f"{op.name}_preact"), y.shape, "float32", producer=op.name, fold=y.fold)
        g.values[z.name] = z
        if op.family == "dense":
            op.saved["preact"] = z.name
            continue
        split = Op(name=_fresh(g, f"{op.name}_{act}"), family="activation", inputs=[z.name],
                   outputs=[y.name], weights=[], attrs={"activation": act}, layer=op.layer,
                   fold=op.fold)
        op.attrs["activation"] = "linear"
        op.outputs = [z.name]
        y.producer = split.name
        g.ops.insert(g.ops.index(op) + 1, split)


def _fuse_losses(g: Graph) -> None:
    for loss in g.losses:
        act = _FUSABLE.get(loss.kind)
        v = g.values[loss.output]
        if act is None or v.view_of is not None or v.producer is None:
            continue
        prod = next(p for p in g.ops if p.name == v.producer)
        if (prod.family in _HAS_ACTIVATION and prod.attrs.get("activation") == act
                and not g.consumers(v.name)
                and sum(1 for other in g.losses if other.output == v.name) == 1):
            loss.fused = act
            prod.attrs["grad_is_preactivation"] = True


def fuse(g: Graph) -> Graph:
    _fold_activations(g)
    _keep_preactivations(g)
    _fuse_losses(g)
    return g
