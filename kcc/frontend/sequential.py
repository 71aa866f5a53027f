"""Sequential: a linear stack of layers, built up with `add` and `pop`.

A Sequential *is* a functional Model: once its first layer is added, it has an Input (the
one given, or one made from the first layer's `input_shape` / `input_dim` / `input_length`)
and each `add` calls the new layer on the current output, so compile/fit/predict, weights,
saving and calling it on tensors inside other models all come from Model unchanged.
"""
from kcc.frontend.functional import Model
from kcc.frontend.input_layer import InputLayer
from kcc.frontend.layer import Layer
from kcc.frontend.node import Node
from kcc.frontend.tensor import KerasTensor
from kcc.frontend.topology import map_graph

_SUMMARY_LINE_LENGTH = 65                   # Keras's table for a sequential model:
_SUMMARY_POSITIONS = (0.45, 0.85, 1.0)      # no "Connected to" column


class Sequential(Model):
    def __init__(self, layers=None, name=None, trainable=True):
        Layer.__init__(self, name=name)     # no graph yet: Model.__init__ comes with the input
        self._input_layer = None            # InputLayer: given, or made for the first layer
        self._implicit_input = False
        self._stack = []                    # [(layer, its output tensor)] in add order
        self._single_input = self._single_output = True
        self._set_graph()
        if not trainable:
            self.trainable = False
        if layers is not None:
            if isinstance(layers, (Layer, KerasTensor)):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # -- building the stack -------------------------------------------------------------
    def add(self, layer):
        """Append a layer (or an `Input` tensor / InputLayer, as the first element)."""
        if isinstance(layer, KerasTensor) and layer._keras_history is not None and \
                isinstance(layer._keras_history[0], InputLayer):
            layer = layer._keras_history[0]          # model.add(Input(shape=(16,)))
        if not isinstance(layer, Layer):
            raise TypeError("The added layer must be an instance of class Layer. Found: "
                            f"{layer!r} (of type {type(layer).__name__}). Sequential model "
                            f"{self.name} accepts layers, models, and an Input as first element.")
        self._check_mutable("add a layer to")
        if layer is self:
            raise ValueError(f"Sequential model {self.name} cannot be added to itself.")
        if isinstance(layer, InputLayer):
            self._add_input_layer(layer)
            return
        names = {l.name for l in self.layers}
        if self._input_layer is not None:
            names.add(self._input_layer.name)
        if layer.name in names:
            raise ValueError("All layers added to a Sequential model should have unique names. "
                             f"Name '{layer.name}' is already the name of a layer in model "
                             f"{self.name}; pass a unique `name` to the layer.")
        implicit = self._input_layer is None
        if implicit:
            input_layer = self._first_input_layer(layer)
            x = input_layer.output
        else:
            input_layer = self._input_layer
            x = self._stack[-1][1] if self._stack else input_layer.output
        y = layer(x)                              # shape errors name the layer; nothing changed
        if not isinstance(y, KerasTensor):
            raise ValueError("All layers in a Sequential model should have a single output "
                             f"tensor; layer {layer.name} returned {len(y)}. For multi-output "
                             "layers, use the functional API.")
        if implicit:
            self._input_layer, self._implicit_input = input_layer, True
        if not self.trainable:
            layer.trainable = False
        self._stack.append((layer, y))
        self._set_graph()

    def pop(self):
        """Remove the last layer (the implicit input goes with the first layer)."""
        if not self._stack:
            raise TypeError(f"There are no layers in the model {self.name}.")
        self._check_mutable("pop a layer from")
        layer, y = self._stack.pop()
        node = y.node
        for parent in node.inbound_layers:        # forget the link into the popped layer
            if node in parent._outbound_nodes:
                parent._outbound_nodes.remove(node)
        if not self._stack and self._implicit_input:
            self._input_layer, self._implicit_input = None, False
        self._set_graph()
        return layer

    def _add_input_layer(self, input_layer):
        if self._input_layer is not None:
            raise ValueError(f"Sequential model {self.name} already has an input "
                             f"({self._input_layer.name}, shape {self._input_layer.batch_shape}); "
                             "an InputLayer can only be its first element.")
        self._input_layer, self._implicit_input = input_layer, False
        self._set_graph()

    def _first_input_layer(self, layer):
        """The InputLayer the first layer's declared input shape asks for."""
        if isinstance(layer, Model):              # a model knows its input already
            if len(layer.inputs) != 1:
                raise ValueError(f"Sequential model {self.name}: its first layer, model "
                                 f"{layer.name}, has {len(layer.inputs)} inputs; a Sequential "
                                 "model has one. Use the functional API.")
            t = layer.inputs[0]
            return InputLayer(batch_shape=t.shape, dtype=t.dtype, name=f"{layer.name}_input")
        shape = layer._batch_input_shape
        if shape is None and layer.built and not isinstance(layer._build_input_shape, list):
            shape = (None,) + tuple(layer._build_input_shape[1:])    # a layer used before
        if shape is None:
            raise ValueError(self._missing_shape_message(layer))
        return InputLayer(batch_shape=shape, dtype=_input_dtype(layer),
                          name=f"{layer.name}_input")

    def _missing_shape_message(self, layer):
        message = ("The first layer in a Sequential model must get an `input_shape` or "
                   "`batch_input_shape` argument (or `input_dim`, and `input_length` for "
                   f"sequences). Layer {layer.name} ({type(layer).__name__}), the first layer "
                   f"of model {self.name}, was given none.")
        declared = getattr(layer, "_declared", None)      # recurrent: (input_length, input_dim)
        if declared is not None and declared.count(None) == 1:
            have = "input_length" if declared[0] is not None else "input_dim"
            need = "input_dim" if declared[0] is not None else "input_length"
            return message + (f" It has `{have}` but no `{need}`: kcc needs both the number "
                              "of timesteps and the features. Pass input_shape=(timesteps, "
                              "features) to it, or add an Input(shape=(timesteps, features)) "
                              "first.")
        return message + (" Pass e.g. input_shape=(16,) to it, or add an Input(shape=(16,)) "
                          "first.")

    def _check_mutable(self, what):
        if len(self._inbound_nodes) > 1:
            calls = len(self._inbound_nodes) - 1
            raise RuntimeError(f"Cannot {what} Sequential model {self.name}: it has already been "
                               f"called on {calls} tensor(s), and the models built from those "
                               "calls would not see the change. Finish the Sequential model "
                               "before calling it on a tensor.")

    def _set_graph(self):
        """Recompute the functional structure (inputs, outputs, nodes, layers) of the stack."""
        if self._stack:
            self.inputs = [self._input_layer.output]
            self.outputs = [self._stack[-1][1]]
            self._nodes, self._layers = map_graph(self.inputs, self.outputs)
            self.built = True
            self._build_input_shape = self.inputs[0].shape
            if self._inbound_nodes:
                self._inbound_nodes[0].input_tensors = list(self.inputs)
                self._inbound_nodes[0].output_tensors = list(self.outputs)
            else:
                Node(self, self.inputs, self.outputs, link=False)   # node 0: own graph
        else:
            self.inputs, self.outputs, self._nodes = [], [], []
            self._layers = [self._input_layer] if self._input_layer is not None else []
            self.built = False
            self._build_input_shape = None
            del self._inbound_nodes[:]
        # A changed stack is a new model to compile (Keras: compile again after add/pop).
        self._native = self._predict_native = self._compile_config = None
        self.__dict__.pop("_input_spec", None)

    # -- structure ----------------------------------------------------------------------
    @property
    def layers(self):
        """The added layers, without the InputLayer (as in Keras)."""
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    def get_layer(self, name=None, index=None):
        if index is not None:
            layers = self.layers
            if not 0 <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model "
                                 f"{self.name} only has {len(layers)} layers.")
            return layers[index]
        return super().get_layer(name=name)

    def _require_layers(self, what):
        if not self._stack:
            raise ValueError(f"Sequential model {self.name} is empty, so it cannot {what}. "
                             "Add some layers first, the first one with an `input_shape`.")

    def summary(self, line_length=None, positions=None, print_fn=None):
        self._require_layers("be summarized")
        super().summary(line_length=line_length or _SUMMARY_LINE_LENGTH,
                        positions=positions or _SUMMARY_POSITIONS, print_fn=print_fn)

    def compile(self, *args, **kwargs):
        self._require_layers("be compiled")
        return super().compile(*args, **kwargs)

    def _native_for_predict(self):
        self._require_layers("predict")
        return super()._native_for_predict()

    def _check_num_inputs(self, tensors):
        self._require_layers("be called on a tensor")
        super()._check_num_inputs(tensors)

    def build(self, input_shape=None):
        """A Sequential is built by its first layer's input; this only says so."""
        self._require_layers("be built")

    def get_config(self):
        """{"name", "trainable", "layers": [the InputLayer, then each added layer]}."""
        from kcc.saving.model_config import sequential_config   # deferred: saving imports us
        return sequential_config(self)

    @classmethod
    def from_config(cls, config):
        from kcc.saving.model_config import sequential_from_config
        return sequential_from_config(config)

    # -- Keras 1/2 Sequential extras ------------------------------------------------------
    def predict_classes(self, x, batch_size=None, verbose=0):
        """Class indices: the argmax of a softmax, or probability > 0.5 for one unit."""
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=None, verbose=0):
        return self.predict(x, batch_size=batch_size, verbose=verbose)


def _input_dtype(layer):
    """The dtype the first layer reads: int32 ids for an Embedding, float32 otherwise."""
    from kcc.layers.embedding import Embedding    # deferred: kcc.layers imports the frontend
    return "int32" if isinstance(layer, Embedding) else "float32"
