"""The graph a runtime unit is rendered from: the model's graph with its names made
canonical, so the same architecture renders the same source whatever its layers are called.

Keras names layers by a counter that runs across the process (`dense_7` is the seventh
Dense made), and those names become the unit's identifiers, comments and info strings. So
building the same model again in one process (a notebook cell run twice, a test that makes
a fresh model) gave a new source, a new cache key and a full compile. Here every layer is
renamed `<kind>_<k>`, k counting that kind within this graph in order of first use
(`dense_1`, `dense_2`, ...), and the ops, values and weights named after it follow
(`dense_1_call2`, `dense_1_kernel`); a layer the user named keeps its name as the kind
(`aux_output` -> `aux_output_1`), which does not change from one run to the next. The
renaming is one to one, so the unit computes exactly what it did with the real names.

Only the compiled unit sees these names. Python keeps the model's own graph for everything a
user reads (log keys, error messages, weights); the exported C library renders the real
names (kcc/export/source.py).
"""
from __future__ import annotations

import re
from dataclasses import replace

from kcc.graph.ir import Graph
from kcc.graph.trace import c_ident

_COUNTER = re.compile(r"(_\d+)+$")


def canonical(g: Graph) -> Graph:
    """A copy of `g` (after the passes) whose identifiers depend only on its structure and
    on the names users gave. When a name cannot be mapped one to one (never the case for
    graphs kcc builds) the copy keeps g's names: the unit then simply misses the cache."""
    out = g.copy()
    # the layers, in order of first appearance: Input layers, then the ops' layers
    counts: dict[str, int] = {}
    layers: dict[str, str] = {}   # layer name -> canonical
    prefixes: list[tuple[str, str]] = []

    def add_layer(layer: str) -> None:
        if layer not in layers:
            kind = c_ident(_COUNTER.sub("", layer) or "layer")
            if kind == "d" or kind.startswith("d_"):   # "d_" starts the units' gradient names
                kind = "layer_" + kind
            counts[kind] = counts.get(kind, 0) + 1
            layers[layer] = f"{kind}_{counts[kind]}"
            prefixes.append((c_ident(layer), layers[layer]))
            prefixes.sort(key=lambda p: -len(p[0]))

    # every identifier the builder and the passes made starts with its layer's
    # ("dense_1_call2", "lstm_1_gates", "dense_1_kernel"): the longest layer prefix is replaced
    def rename(name: str) -> str | None:
        for old, new in prefixes:
            if name == old or name.startswith(old + "_"):
                return new + name[len(old):]
        return None

    for layer in list(g.input_names) + [op.layer for op in g.ops if op.layer]:
        add_layer(layer)
    for name in g.values:   # a layer that lowers to a view (Flatten, Reshape) has no op
        if rename(name) is None:
            add_layer(name)
    for w in g.weights:     # a wrapped layer's weights (TimeDistributed(Dense)): its ops
        if rename(w.cname) is None:   # carry the wrapper's name
            add_layer(w.name.rpartition("/")[0])

    names = {name: rename(name) for name in g.values}
    op_names = {op.name: rename(op.name) for op in g.ops}
    cnames = {w.index: rename(w.cname) for w in g.weights}
    produced = set(names.values()) | set(op_names.values())
    if (None in produced or None in cnames.values() or len(set(names.values())) != len(names)
            or len(set(op_names.values())) != len(op_names)
            or len(set(cnames.values())) != len(cnames) or set(cnames.values()) & produced
            or any(n.startswith("d_") for n in produced | set(cnames.values()))):
        return out

    out.name = "model"
    out.inputs = [names[n] for n in g.inputs]
    out.outputs = [names[n] for n in g.outputs]
    out.input_names = [layers[n] for n in g.input_names]
    out.output_names = [layers.get(n, c_ident(n)) for n in g.output_names]
    out.values = {names[name]: replace(v, name=names[name],
                                       producer=op_names.get(v.producer) if v.producer else None,
                                       view_of=names[v.view_of] if v.view_of else None)
                  for name, v in g.values.items()}
    for op, was in zip(out.ops, g.ops):
        op.name = op_names[was.name]
        op.layer = layers.get(was.layer, "")
        op.inputs = [names[n] for n in was.inputs]
        op.outputs = [names[n] for n in was.outputs]
        op.saved = {role: names[n] for role, n in was.saved.items()}
    out.weights = []
    for w in g.weights:
        owner, _, leaf = w.name.rpartition("/")
        out.weights.append(replace(w, name=f"{layers.get(owner, cnames[w.index])}/{leaf}", cname=cnames[w.index]))
    for loss, was in zip(out.losses, g.losses):
        loss.output = names[was.output]
        loss.mask = names[was.mask] if was.mask else None
    out.output_masks = [names[m] if m else None for m in g.output_masks]
    out.id_bounds = {names[k]: (bound, layers.get(layer, "")) for k, (bound, layer) in g.id_bounds.items()}
    return out
