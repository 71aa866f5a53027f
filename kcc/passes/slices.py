"""Concatenation into slices: producers write straight into their part of the output.

A concat copies each input into its columns of every output row. When an input has no
other reader and its producer can write rows with a stride (the op families listed
below), the producer writes into those columns directly and the copy disappears, in the
forward and in the backward (its gradient is then the matching columns of the concat's).
The value becomes a view of the concat's output at a column offset; the memory plan and
`OpIO` take it from there.
"""
from __future__ import annotations

from kcc.activations import ROW
from kcc.graph.ir import Graph

# Families whose templates honour `io.y_sample_stride()` for their output (and gradient).
STRIDED_OUTPUT = {"dense", "recurrent", "conv2d"}


def _one_row_per_sample(g: Graph, value) -> bool:
    """Whether the producer writes each sample's output as one block it can place anywhere
    (its template takes a per-sample stride)."""
    prod = next(p for p in g.ops if p.name == value.producer)
    if prod.family == "dense":
        return len(value.shape) == 1          # a (T, N) output is T rows per sample
    if prod.family == "conv2d":               # (F, Ho, Wo) per sample, no batch-wide row activation
        return (prod.attrs.get("data_format") == "channels_first"
                and prod.attrs.get("activation") not in ROW)
    return True                               # recurrent: the whole (T, U) block per sample


def concat_into_slices(g: Graph) -> Graph:
    for op in g.ops:
        if op.family != "concat" or op.attrs.get("outer") != 1 or op.fold != 1:
            continue
        out = op.outputs[0]
        slots, widths = op.attrs["operands"], op.attrs["widths"]
        offsets = [sum(widths[:k]) for k in range(len(widths))]
        in_place = []
        for u, name in enumerate(op.inputs):
            v = g.values[name]
            uses = [k for k, s in enumerate(slots) if s == u]
            producer = next((p for p in g.ops if p.name == v.producer), None)
            if (len(uses) != 1 or producer is None or v.view_of is not None
                    or producer.family not in STRIDED_OUTPUT or producer.fold != 1
                    or producer.outputs != [name] or name in g.outputs or v.dtype != "float32"
                    or g.consumers(name) != [op] or not _one_row_per_sample(g, v)):
                continue
            v.view_of, v.slice_offset = out, offsets[uses[0]]
            in_place.append(u)
        op.attrs["in_place"] = in_place
    return g
