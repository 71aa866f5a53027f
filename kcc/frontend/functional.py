"""Model: a graph of layers from input tensors to output tensors (the functional API).

A Model is itself a Layer: calling it on new tensors adds one node, and lowering that node
inlines the model's graph, so its layers keep their weights wherever the model is reused.
Training (compile/fit/evaluate/predict) comes from the Trainer mixin.
"""
from kcc.frontend.layer import Layer
from kcc.frontend.mask import mask_of, refuse
from kcc.frontend.node import Node
from kcc.frontend.summary import print_summary
from kcc.frontend.topology import map_graph
from kcc.frontend.variable import assign_all
from kcc.training.trainer import Trainer


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class Model(Trainer, Layer):
    def __init__(self, inputs=None, outputs=None, name=None, *, input=None, output=None,
                 trainable=True):
        if input is not None:        # Keras 1 spelling: Model(input=, output=)
            if inputs is not None:
                raise TypeError("Pass either `inputs` or `input` to Model, not both.")
            inputs = input
        if output is not None:
            if outputs is not None:
                raise TypeError("Pass either `outputs` or `output` to Model, not both.")
            outputs = output
        if inputs is None or outputs is None:
            raise TypeError("kcc supports the functional API: build a model with "
                            "Model(inputs, outputs) (Keras 1: Model(input=, output=)).")
        self._single_input = not isinstance(inputs, (list, tuple))
        self._single_output = not isinstance(outputs, (list, tuple))
        self.inputs, self.outputs = _as_list(inputs), _as_list(outputs)
        if not self.inputs or not self.outputs:
            raise ValueError("A Model needs at least one input and one output tensor.")
        self._nodes, self._layers = map_graph(self.inputs, self.outputs)
        super().__init__(name=name)
        if not trainable:
            self.trainable = False           # the setter freezes the layers too
        self._check_unique_names()
        self._multi_input = len(self.inputs) > 1
        self.built = True
        Node(self, self.inputs, self.outputs, link=False)   # node 0: the model's own graph

    def _check_unique_names(self):
        names = [l.name for l in self._layers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"The name \"{name}\" is used {names.count(name)} times in the "
                                 "model. All layer names should be unique.")

    # -- structure ----------------------------------------------------------------------
    @property
    def layers(self):
        return list(self._layers)

    def _nodes_in_order(self):
        """The nodes to run, inputs excluded, each once, in a topological order."""
        return list(self._nodes)

    @property
    def input_layers(self):
        return [t._keras_history[0] for t in self.inputs]

    @property
    def output_layers(self):
        return [t._keras_history[0] for t in self.outputs]

    @property
    def input_names(self):
        return [l.name for l in self.input_layers]

    @property
    def output_names(self):
        return [l.name for l in self.output_layers]

    # A model's input/output are its own tensors, however often it was called.
    @property
    def input(self):
        return self.inputs[0] if self._single_input else list(self.inputs)

    @property
    def output(self):
        return self.outputs[0] if self._single_output else list(self.outputs)

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if self._single_input else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if self._single_output else shapes

    def get_layer(self, name=None, index=None):
        if index is not None:
            if not 0 <= index < len(self._layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"{self.name} only has {len(self._layers)} layers.")
            return self._layers[index]
        if name is None:
            raise ValueError("Provide either a layer name or a layer index to get_layer().")
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[l.name for l in self._layers]}.")

    # -- weights ------------------------------------------------------------------------
    @Layer.trainable.setter
    def trainable(self, value):
        # Freezing a model freezes its layers, so its weights read as frozen wherever used.
        self._trainable = bool(value)
        for layer in getattr(self, "_layers", ()):
            layer.trainable = value

    @property
    def weights(self):
        """The layers' weights in layer order, each once (a layer may appear in nested models)."""
        seen, out = set(), []
        for layer in self._layers:
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    def set_weights(self, weights):
        assign_all(self.weights, weights, f"Model {self.name}")

    def count_params(self):
        return sum(w.size for w in self.weights)

    def summary(self, line_length=None, positions=None, print_fn=None):
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    def get_config(self):
        """The architecture as plain data, in Keras's functional shape (kcc/saving/model_config.py)."""
        from kcc.saving.model_config import functional_config   # deferred: saving imports us
        return functional_config(self)

    @classmethod
    def from_config(cls, config):
        from kcc.saving.model_config import functional_from_config
        return functional_from_config(config)

    # -- calling a model as a layer -----------------------------------------------------
    def _check_num_inputs(self, tensors):
        if len(tensors) != len(self.inputs):
            raise ValueError(f"Model {self.name} expects {len(self.inputs)} input(s), but it "
                             f"received {len(tensors)} input tensors.")
        for i, (t, want) in enumerate(zip(tensors, self.inputs)):
            # int32 into a float32 Input is read as floats (Keras casts it); float32 values
            # into an int32 Input are not ids kcc can range-check, so they stay refused
            cast = t.dtype == "int32" and want.dtype == "float32"
            if t.shape[1:] != want.shape[1:] or (t.dtype != want.dtype and not cast):
                node = len(self._inbound_nodes)        # the node this call would have made
                raise ValueError(f"Input {i} of model {self.name} (called for node {node}) is "
                                 f"incompatible with the model: expected shape {want.shape} "
                                 f"({want.dtype}), received shape {t.shape} ({t.dtype}).")

    def _int_input_as_float(self, i: int) -> bool:
        """Called as a layer, an int32 tensor reaches the model's own Input as it is when
        that Input is int32 (ids), and as float32 values when it is float32."""
        return self.inputs[i].dtype == "float32"

    def _propagate_layout(self, inputs, outputs):
        """A model called as a layer gives its outputs the layouts of its own outputs."""
        for t, inner in zip(outputs, self.outputs):
            layout = getattr(inner, "_kcc_layout", None)
            if layout is not None:
                t._kcc_layout = layout

    _uses_mask = True

    def _propagate_mask(self, inputs, outputs, masks):
        """Keras 3 hands a called model its inputs' masks and its outputs' masks back out;
        kcc does not inline masks across a model boundary yet."""
        if any(m is not None for m in masks):
            refuse(self, "inside the model it is called as a layer")
        if any(mask_of(t) is not None for t in self.outputs):
            raise NotImplementedError(
                f"Model {self.name} is called as a layer, and its output carries a mask (from "
                "Embedding(mask_zero=True) or Masking inside it), which Keras would hand on to "
                "the layers after it; kcc does not support that yet: build the layers into "
                "the outer model instead.")

    def compute_output_shape(self, input_shape):
        batch = (input_shape[0] if self._multi_input else input_shape)[0]
        shapes = [(batch,) + t.shape[1:] for t in self.outputs]
        return shapes[0] if self._single_output else shapes

    def compute_output_dtype(self, input_dtype):
        return [t.dtype for t in self.outputs]

    def lower(self, g, inputs):
        """Inline the model's graph: its layers lower themselves, weights shared by identity."""
        env = {id(t): v for t, v in zip(self.inputs, inputs)}
        g.bind(self.inputs, inputs)
        for node in self._nodes:
            outs = g.lower_node(node.layer, node.index, [env[id(t)] for t in node.input_tensors],
                               node.arguments, node.input_masks)
            env.update((id(t), v) for t, v in zip(node.output_tensors, outs))
            g.bind(node.output_tensors, outs)
        return [env[id(t)] for t in self.outputs]
