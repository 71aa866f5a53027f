"""lower(model): walk a functional model's nodes and record the flat IR.

Each layer lowers itself through the small builder below (`g.op`, `g.view`), so the
graph module never needs to know layer classes, and layers never see C++.
"""
from __future__ import annotations

import contextlib
import re
from math import prod

from kcc.graph.ir import Graph, Op, Value, WeightSlot

_IDENT = re.compile(r"[^0-9a-zA-Z_]")


def _weight_rules(variable) -> dict:
    """A weight's regularizer and constraint as the plain data of WeightSlot. Only trainable
    weights are regularized and constrained (Keras: the optimizer's variables, and
    `trainable_weights` for the penalties), so a frozen weight gets neither."""
    reg, con = getattr(variable, "regularizer", None), getattr(variable, "constraint", None)
    if not variable.trainable:
        return {}
    terms = reg.terms() if reg is not None else None
    lowered = (con.lowered(variable.shape, f"Layer {variable.layer.name} weight "
                                            f"'{variable.name}' constraint")
               if con is not None else None)
    return {"regularizer": terms if terms and any(terms) else None, "constraint": lowered}


def c_ident(name: str) -> str:
    """A layer name as a C identifier (layer names may hold any character)."""
    s = _IDENT.sub("_", name)
    return s if s and not s[0].isdigit() else "v_" + s


class GraphBuilder:
    """What `Layer.lower(g, inputs)` calls to emit IR for one node."""

    def __init__(self, name: str, graph: Graph | None = None):
        """A new graph, or more ops on `graph` (a lowered one: casts for the losses)."""
        if graph is None:
            graph = Graph(name=c_ident(name), inputs=[], outputs=[], output_names=[],
                          input_names=[], values={}, weights=[], ops=[])
        self.graph = graph
        self._casts: dict[str, Value] = {}  # int32 value -> its float32 cast
        self._slots: dict[int, tuple[int, object]] = {}  # id(Variable) -> (slot, Variable)
        self._op_name: str = ""
        self._layer_name: str = ""
        self._outputs_of_node = 0
        self._fold = 1                       # rows per sample of what is built now
        self.call_arguments: dict = {}       # keyword arguments of the call being lowered
        self._tensors: dict[int, Value] = {}  # id(KerasTensor) -> its value (a mask's sources)
        self._masks: dict[tuple, Value] = {}  # lowered masks by recipe and sources
        self._node_masks: list = []          # the Keras masks of the node being lowered

    # -- used by the tracer -------------------------------------------------
    def _fresh(self, base: str) -> str:
        name, k = base, 2
        weights = {w.cname for w in self.graph.weights}
        while name in self.graph.values or name in weights or "d_" + name in self.graph.values:
            name, k = f"{base}_{k}", k + 1
        return name

    def add_input(self, layer_name: str, shape, dtype) -> Value:
        v = Value(self._fresh(c_ident(layer_name)), tuple(shape), dtype)
        self.graph.values[v.name] = v
        self.graph.inputs.append(v.name)
        self.graph.input_names.append(layer_name)
        return v

    def bind(self, tensors, values) -> None:
        """Record which value each symbolic tensor lowered to (masks read them later)."""
        self._tensors.update((id(t), v) for t, v in zip(tensors, values))

    def lower_node(self, layer, call_index: int, inputs: list[Value],
                   arguments: dict | None = None, masks=None) -> list[Value]:
        """One call of `layer` on `inputs`: the int32 inputs it reads as floats go through
        `as_float` first, then the layer's ops are named after it. `arguments` (the Node's
        call keywords, e.g. use_causal_mask) are `call_arguments` while the layer lowers;
        `masks`: the inputs' Keras masks, which the layer reads with `input_mask`."""
        inputs = [self.as_float(v, layer.name) if v.dtype == "int32" and layer._int_input_as_float(i)
                  else v for i, v in enumerate(inputs)]
        self.begin_node(layer.name, call_index)
        outer = self.call_arguments, self._node_masks
        self.call_arguments, self._node_masks = dict(arguments or {}), list(masks or [])
        try:
            outputs = layer.lower(self, inputs)
        finally:
            self.call_arguments, self._node_masks = outer
        reg = getattr(layer, "activity_regularizer", None)
        node = self._op_name
        return outputs if reg is None else [self.activity(y, reg, node) for y in outputs]

    def activity(self, y: Value, regularizer, node: str) -> Value:
        """`y` passed on through an activity_regularizer op: Keras's penalty on a layer's
        output joins the loss (train and test steps) and its gradient flows into `y`. Every
        output of the layer has one (a recurrent layer's final states too, as Keras's
        Layer.__call__ penalizes each output), named `<node>_activity`, `_activity_2`, ..."""
        l1, l2 = regularizer.terms()
        self._op_name, self._outputs_of_node = self._fresh(f"{node}_activity"), 0
        return self.op("activity_regularizer", [y], y.shape, attrs={"l1": l1, "l2": l2})

    def as_float(self, x: Value, layer_name: str) -> Value:
        """The float32 values of int32 `x` (ids, or a view of them) for a layer that
        computes on them, as Keras computes a float layer on an int tensor: one cast op,
        made at the first such reader and shared by every later one. Ids carry no
        gradient, so nothing flows back through it."""
        if x.name not in self._casts:
            with self.inner_nodes():
                outer, self._fold = self._fold, x.fold
                try:
                    self._op_name, self._layer_name = self._fresh(f"{x.name}_float"), layer_name
                    self._outputs_of_node = 0
                    self._casts[x.name] = self.op("cast", [x], x.shape)
                finally:
                    self._fold = outer
        return self._casts[x.name]

    def input_mask(self, i: int = 0) -> Value | None:
        """The mask of the node's input i as a value, (timesteps,) per sample of 1.0 (kept)
        and 0.0 (masked), or None when it has none."""
        masks = self._node_masks
        return self.mask_value(masks[i]) if i < len(masks) and masks[i] is not None else None

    def mask_value(self, mask) -> Value:
        """A kcc.frontend.mask.Mask lowered to a "mask" op (made once per recipe and source,
        named <source>_mask). No gradient flows through a mask (passes/plan.py)."""
        if mask.kind == "or":
            sources = [self.mask_value(m) for m in mask.parts]
        else:
            sources = [self._tensors[id(mask.tensor)]]
        return self.mask_op(mask.kind, mask.value, sources, mask.steps)

    def mask_op(self, kind: str, value: float, sources: list[Value], steps) -> Value:
        """The "mask" op of `kind` (see kcc/frontend/mask.py) on `sources`, made once."""
        key = (kind, value, tuple(v.name for v in sources))
        if key not in self._masks:
            with self.inner_nodes():
                outer, self._fold = self._fold, sources[0].fold
                try:
                    self._op_name = self._fresh(f"{sources[0].name}_mask")
                    self._outputs_of_node = 0
                    features = sources[0].size // max(1, prod(steps))
                    self._masks[key] = self.op("mask", sources, steps, attrs={
                        "kind": kind, "value": value, "features": features})
                finally:
                    self._fold = outer
        return self._masks[key]

    def begin_node(self, layer_name: str, call_index: int):
        base = c_ident(layer_name) if call_index == 0 else f"{c_ident(layer_name)}_call{call_index + 1}"
        self._op_name = self._fresh(base)
        self._layer_name = layer_name
        self._outputs_of_node = 0

    def slot(self, variable) -> int | None:
        if variable is None:
            return None
        key = id(variable)   # the Variable is kept alive in the map, so ids stay unique
        if key not in self._slots:
            self._slots[key] = (len(self.graph.weights), variable)
            taken = {w.cname for w in self.graph.weights}
            cname, k = c_ident(variable.path), 2
            while cname in taken or cname in self.graph.values:
                cname, k = f"{c_ident(variable.path)}_{k}", k + 1
            self.graph.weights.append(WeightSlot(
                index=len(self.graph.weights), name=variable.path, shape=tuple(variable.shape),
                trainable=bool(variable.trainable), buffer=variable.value, cname=cname,
                **_weight_rules(variable)))
        return self._slots[key][0]

    def _out_name(self) -> str:
        self._outputs_of_node += 1
        if self._outputs_of_node == 1:
            return self._op_name
        return self._fresh(f"{self._op_name}_out{self._outputs_of_node}")

    # -- the builder API layers use ----------------------------------------------
    def op(self, family: str, inputs, shape, *, weights=(), attrs=None, dtype="float32",
           saved=None, workspace=None) -> Value:
        """One op with one output. `saved` maps a role to a per-sample shape: buffers the
        forward fills and the backward reads (an LSTM's gates), planned like activations.
        `workspace` maps a role to a float count: scratch of a fixed size, whatever the
        batch (each thread has its own; ops run one at a time, so they all share it)."""
        return self.op_outputs(family, inputs, [shape], weights=weights, attrs=attrs,
                               dtype=dtype, saved=saved, workspace=workspace)[0]

    def op_outputs(self, family: str, inputs, shapes, *, weights=(), attrs=None,
                   dtype="float32", saved=None, workspace=None) -> list[Value]:
        """One op with an output per shape (a recurrent layer's output and final states),
        all of `dtype`; the op is named after the first. Otherwise as `op`."""
        outs = []
        for shape in shapes:
            out = Value(self._out_name(), tuple(int(d) for d in shape), dtype,
                        producer=self._op_name, fold=self._fold)
            self.graph.values[out.name] = out
            outs.append(out)
        name = self._op_name if outs[0].name == self._op_name else outs[0].name
        for out in outs:
            out.producer = name
        kept = {}
        for role, s in (saved or {}).items():
            v = Value(self._fresh(f"{name}_{role}"), tuple(int(d) for d in s), "float32", producer=name,
                      fold=self._fold)
            self.graph.values[v.name] = v
            kept[role] = v.name
        self.graph.ops.append(Op(
            name=name, family=family, inputs=[v.name for v in inputs],
            outputs=[out.name for out in outs],
            weights=[self.slot(w) for w in weights], attrs=dict(attrs or {}),
            layer=self._layer_name, saved=kept, fold=self._fold,
            workspace={k: int(v) for k, v in (workspace or {}).items()}))
        return outs

    def require_ids_below(self, x: Value, bound: int) -> None:
        """The op being lowered reads `x` as indices into a table of `bound` rows (Embedding).
        Ids come from model inputs, as they are or through views (Flatten, Reshape: the same
        values in another shape), so the engine checks that input in Python, before any
        native code reads memory with them; the smallest table read bounds it."""
        source = self.graph.root(x.name)
        if source not in self.graph.inputs:
            by = next(op.layer for op in self.graph.ops if source in op.outputs)
            raise ValueError(f"Layer {self._layer_name} reads integer ids, which must come from an "
                             f"Input(dtype='int32'), as they are or through Flatten/Reshape; "
                             f"received {x.name}, which layer {by} computes")
        old = self.graph.id_bounds.get(source)
        if old is None or bound < old[0]:
            self.graph.id_bounds[source] = (int(bound), self._layer_name)

    def view(self, x: Value, shape) -> Value:
        """Reshape without copying. Inside `folded`, the view may also move axes between the
        batch and the row (TimeDistributed's way in and out): the bytes per sample agree."""
        out = Value(self._out_name(), tuple(int(d) for d in shape), x.dtype, view_of=x.name,
                    fold=self._fold)
        if out.footprint != x.footprint:
            raise ValueError(f"Layer {self._layer_name}: cannot view {x.name} {x.shape} as "
                             f"{out.shape}: {x.footprint} vs {out.footprint} elements per sample")
        self.graph.values[out.name] = out
        return out

    @contextlib.contextmanager
    def sub_node(self, suffix: str):
        """An op a layer emits ahead of its own (a recurrent layer's input dropout): named
        <node>_<suffix>, and the layer's next op keeps the node's name."""
        with self.inner_nodes():
            self._op_name, self._outputs_of_node = self._fresh(f"{self._op_name}_{suffix}"), 0
            yield

    @contextlib.contextmanager
    def inner_nodes(self):
        """Lower a wrapped layer or model inside: its ops take their own names, and what is
        built after the block is named after the wrapper again."""
        saved = (self._op_name, self._layer_name, self._outputs_of_node)
        try:
            yield
        finally:
            self._op_name, self._layer_name, self._outputs_of_node = saved

    @contextlib.contextmanager
    def folded(self, steps: int):
        """Values and ops built inside have `steps` rows per sample: the kernels run on
        n * steps rows, per-timestep shapes, the same memory (TimeDistributed)."""
        outer, self._fold = self._fold, self._fold * int(steps)
        try:
            yield
        finally:
            self._fold = outer


def lower(model) -> Graph:
    """Trace `model` (a functional Model) into a Graph. Pure Python, no compiler."""
    g = GraphBuilder(model.name)
    env: dict[int, Value] = {}   # id(KerasTensor) -> Value
    for t in model.inputs:
        layer = t._keras_history[0]
        env[id(t)] = g.add_input(layer.name, t.shape[1:], t.dtype)
        g.bind([t], [env[id(t)]])
    calls: dict[int, int] = {}
    for node in model._nodes_in_order():
        layer = node.layer
        k = calls.get(id(layer), 0)
        calls[id(layer)] = k + 1
        outs = g.lower_node(layer, k, [env[id(t)] for t in node.input_tensors],
                            node.arguments, node.input_masks)
        if len(outs) != len(node.output_tensors):
            raise RuntimeError(f"Layer {layer.name} lowered to {len(outs)} values, "
                               f"its node has {len(node.output_tensors)} outputs")
        for t, v in zip(node.output_tensors, outs):
            env[id(t)] = v
        g.bind(node.output_tensors, outs)
    for t in model.outputs:
        g.graph.outputs.append(env[id(t)].name)
        g.graph.output_names.append(t._keras_history[0].name)
        mask = getattr(t, "_keras_mask", None)
        g.graph.output_masks.append(None if mask is None else g.mask_value(mask).name)
    return g.graph


def loss_inputs(graph: Graph) -> list[str]:
    """The value each output's loss reads: the output itself, or the float32 cast of an
    int32 one (ids handed on by views), as Keras's losses cast what they are given.
    The casts join `graph`."""
    g = GraphBuilder(graph.name, graph)
    return [g.as_float(graph.values[o], layer).name if graph.values[o].dtype == "int32" else o
            for o, layer in zip(graph.outputs, graph.output_names)]
