"""Fusion: fold work into neighbouring kernels so it costs no extra pass over memory.

1. A standalone Activation right after a linear Dense is folded into the Dense epilogue
   (bias + activation in one pass while the output is hot in cache).
2. softmax + categorical crossentropy and sigmoid + binary crossentropy: the loss writes
   the gradient with respect to the pre-activation (p - y) / batch directly, so backward
   skips the activation's Jacobian (cheaper, and exact where the clipped log would not be).
"""
from __future__ import annotations

from kcc.graph.ir import Graph

# activation that each loss can absorb into its gradient
_FUSABLE = {"categorical_crossentropy": "softmax", "sparse_categorical_crossentropy": "softmax",
            "binary_crossentropy": "sigmoid"}
_HAS_ACTIVATION = {"dense", "conv2d", "activation"}   # families with an activation epilogue
_EPILOGUE = {"dense", "conv2d"}                         # ... that can absorb an Activation


def _fold_activations(g: Graph) -> None:
    for op in list(g.ops):
        if op.family != "activation":
            continue
        src = g.values[op.inputs[0]]
        prod = next((p for p in g.ops if p.name == src.producer), None)
        if (prod is None or prod.family not in _EPILOGUE or prod.attrs.get("activation") != "linear"
                or len(g.consumers(src.name)) != 1 or src.name in g.outputs):
            continue
        # the producer now writes the activation's output value itself
        out = op.outputs[0]
        prod.attrs["activation"] = op.attrs["activation"]
        prod.outputs = [out]
        g.values[out].producer = prod.name
        del g.values[src.name]
        g.ops.remove(op)


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
    _fuse_losses(g)
    return g
