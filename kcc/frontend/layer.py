"""Layer: the base class of every layer (and of Model).

Calling a layer on symbolic tensors builds it once from the first input shape (its weights
are created then, and never again), infers the output shape, and links a Node into the
graph. Subclasses implement `build`, `compute_output_shape`, `get_config` and `lower`.
"""
import functools

from kcc import constraints, regularizers
from kcc.frontend import naming
from kcc.frontend.dtypes import standardize_dtype
from kcc.frontend.errors import MultipleNodesError
from kcc.frontend.input_spec import InputSpec, check_input_specs
from kcc.frontend.mask import mask_of, warn_dropped
from kcc.frontend.node import Node
from kcc.frontend.shapes import standardize_shape
from kcc.frontend.tensor import KerasTensor
from kcc.frontend.variable import Variable, assign_all

# Keyword arguments every layer takes besides name/trainable (Keras 1, 2 and 3 spellings).
# (autocast only matters to mixed precision; kcc layers compute in float32 either way.)
_BASE_KWARGS = ("input_shape", "batch_input_shape", "batch_size", "dtype", "weights",
                "autocast")


def _locked_build(build):
    """Wrap a subclass's build(): run it once, drop half-made weights if it fails, then lock.

    Done for every subclass (see __init_subclass__) so that a user calling `layer.build(shape)`
    directly gets the same guarantees as a call on a tensor.
    """
    if getattr(build, "_kcc_locked", False):
        return build

    @functools.wraps(build)
    def wrapper(self, input_shape):
        if self._building:                  # a subclass's build() calling super().build()
            return build(self, input_shape)
        if self.built:
            raise RuntimeError(f"Layer {self.name} is already built for input shape "
                               f"{self._build_input_shape}; its weights are fixed. "
                               "Create a new layer for another input shape.")
        self._building = True
        try:
            build(self, input_shape)
        except BaseException:
            del self._weights[:]
            raise
        finally:
            self._building = False
        self._finish_build(input_shape)

    wrapper._kcc_locked = True
    return wrapper


def _dtype_name(dtype):
    """kcc's name for a dtype, or None for one it has no name for (float64, a policy)."""
    try:
        return standardize_dtype(dtype)
    except ValueError:
        return None


def _one_or_list(values):
    return values[0] if len(values) == 1 else list(values)


class Layer:
    _name_prefix = None             # auto-name prefix of this very class; None: snake_case
    _multi_input = False            # True for layers called on a list of tensors (merge)
    _call_arguments = ("training",)  # keyword arguments __call__ accepts (kept on the Node)
    # Keras 3: a layer that supports masking hands its input's mask on (compute_mask); one
    # that does not drops it with a warning (kcc/frontend/mask.py)
    supports_masking = False
    _uses_mask = False          # whether Keras's call of this layer reads the mask it is given

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _locked_build(cls.__dict__["build"])

    def __init__(self, name=None, trainable=True, **kwargs):
        unknown = sorted(set(kwargs) - set(_BASE_KWARGS))
        if unknown:
            raise TypeError(f"Keyword argument(s) not understood by {type(self).__name__}: "
                            f"{', '.join(unknown)}")
        prefix = type(self).__dict__.get("_name_prefix") or naming.to_snake_case(type(self).__name__)
        self.name = naming.unique_name(prefix) if name is None else self._check_name(name)
        self._trainable = bool(trainable)
        self.built = False
        self._building = False
        self.input_spec = None
        self._weights = []            # Variables in creation order
        self._inbound_nodes = []      # one Node per call
        self._outbound_nodes = []     # Nodes of layers called on our outputs
        self._build_input_shape = None
        self._initial_weights = kwargs.get("weights")   # Keras 1: weights=[...] at creation
        dtype = kwargs.get("dtype")
        if dtype is not None and _dtype_name(dtype) != "float32":
            raise ValueError(f"Layer {self.name}: kcc layers compute in float32; "
                             f"received dtype={dtype!r}.")
        self._batch_input_shape = self._declared_input_shape(kwargs)

    @staticmethod
    def _check_name(name):
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError("Argument `name` must be a non-empty string without '/'. "
                             f"Received: name={name!r}")
        return name

    @staticmethod
    def _declared_input_shape(kwargs):
        """input_shape / batch_input_shape given to the first layer of a Sequential model."""
        if kwargs.get("batch_input_shape") is not None:
            if kwargs.get("input_shape") is not None:
                raise ValueError("Pass either `input_shape` or `batch_input_shape`, not both.")
            return standardize_shape(kwargs["batch_input_shape"], "batch_input_shape", batch=True)
        if kwargs.get("input_shape") is not None:
            batch = kwargs.get("batch_size")
            return (batch,) + standardize_shape(kwargs["input_shape"], "input_shape")
        return None

    # -- calling ------------------------------------------------------------------------
    def __call__(self, inputs, **kwargs):
        unknown = sorted(set(kwargs) - set(self._call_arguments))
        if unknown:
            raise TypeError(f"Layer {self.name} got unexpected call argument(s) {unknown}; "
                            f"it accepts {list(self._call_arguments)}.")
        tensors = self._collect_inputs(inputs)
        check_input_specs(self, self.input_spec, tensors)
        input_shape = [t.shape for t in tensors] if self._multi_input else tensors[0].shape
        input_dtype = [t.dtype for t in tensors] if self._multi_input else tensors[0].dtype
        if not self.built:
            self.build(input_shape)
        out_shape = self.compute_output_shape(input_shape)
        out_dtype = self.compute_output_dtype(input_dtype)
        several = isinstance(out_shape, list)
        shapes = out_shape if several else [out_shape]
        dtypes = out_dtype if isinstance(out_dtype, list) else [out_dtype] * len(shapes)
        call = len(self._inbound_nodes)
        base = self.name if call == 0 else f"{self.name}_{call}"
        outputs = [KerasTensor(tuple(s), d, f"{base}:{i}" if several else base)
                   for i, (s, d) in enumerate(zip(shapes, dtypes))]
        masks = [mask_of(t) for t in tensors]
        Node(self, tensors, outputs, arguments=kwargs).input_masks = masks
        self._propagate_layout(tensors, outputs)
        self._propagate_mask(tensors, outputs, masks)
        return outputs if several else outputs[0]

    def compute_mask(self, inputs, previous_mask):
        """The output's mask (Keras 3's rule for a layer that supports masking: the input's)."""
        return previous_mask

    def _propagate_mask(self, inputs, outputs, masks):
        """As Keras 3's Layer.__call__: the first argument's mask (a list of masks for a
        merge) goes through compute_mask onto the outputs, or is dropped with a warning."""
        previous = masks if self._multi_input else masks[0]
        if self.supports_masking:
            out = self.compute_mask(inputs if self._multi_input else inputs[0], previous)
            for t, m in zip(outputs, out if isinstance(out, (list, tuple)) else [out]):
                if m is not None:
                    t._keras_mask = m
        elif any(m is not None for m in (masks if self._multi_input else masks[:1])):
            warn_dropped(self)

    def _propagate_layout(self, inputs, outputs):
        """Image layout (channels first/last, see kcc/layers/image_layout.py) flows through
        layers that keep the rank, so a bare pooling layer after Activation, Dropout or a
        merge still knows which axis is channels. Image layers set their own afterwards."""
        layout = getattr(inputs[0], "_kcc_layout", None)
        if layout is not None:
            for t in outputs:
                if len(t.shape) == len(inputs[0].shape):
                    t._kcc_layout = layout

    def _collect_inputs(self, inputs):
        """The input tensors as a list, or a TypeError/ValueError saying what was wrong."""
        hint = ("expected a symbolic tensor from Input() or another layer. "
                "Did you forget to call a layer on a tensor?")
        if isinstance(inputs, KerasTensor):
            tensors = [inputs]
        elif isinstance(inputs, (list, tuple)) and inputs:
            tensors = list(inputs)
            for i, t in enumerate(tensors):
                if not isinstance(t, KerasTensor):
                    raise TypeError(f"Layer {self.name} was called on a list whose element {i} "
                                    f"is of type {type(t).__name__}; {hint}")
        else:
            raise TypeError(f"Layer {self.name} was called on an object of type "
                            f"{type(inputs).__name__}; {hint}")
        for t in tensors:
            if t._keras_history is None:
                raise ValueError(f"Layer {self.name} was called on {t!r}, which no layer "
                                 "produced; start the graph with Input().")
        self._check_num_inputs(tensors)
        return tensors

    def _check_num_inputs(self, tensors):
        if not self._multi_input and len(tensors) != 1:
            raise ValueError(f"Layer {self.name} expects 1 input, but it received "
                             f"{len(tensors)} input tensors.")

    # -- building -----------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights from the first input shape (full shape, batch axis None)."""

    def _finish_build(self, input_shape):
        self.built = True
        self._build_input_shape = input_shape
        if self.input_spec is None and self._weights:
            # The weights fix the per-sample shape unless the layer said otherwise.
            shapes = input_shape if self._multi_input else [input_shape]
            specs = [InputSpec(shape=(None,) + tuple(s[1:])) for s in shapes]
            self.input_spec = specs if self._multi_input else specs[0]
        if self._initial_weights is not None:
            weights, self._initial_weights = self._initial_weights, None
            self.set_weights(weights)

    def add_weight(self, name=None, shape=None, initializer="glorot_uniform", trainable=True,
                   dtype=None, regularizer=None, constraint=None):
        if self.built and not self._building:
            raise RuntimeError(f"Layer {self.name} is built; its weights are fixed.")
        if dtype is not None and standardize_dtype(dtype) != "float32":
            raise ValueError(f"Layer {self.name}: weights are float32; received dtype={dtype!r}.")
        name = name or f"weight_{len(self._weights)}"
        if any(w.name == name for w in self._weights):
            raise ValueError(f"Layer {self.name} already has a weight named '{name}'.")
        shape = () if shape is None else standardize_shape(shape, f"{name} shape")
        regularizer = regularizers.for_layer(regularizer, self.name, f"{name} regularizer")
        constraint = constraints.for_layer(constraint, self.name, f"{name} constraint")
        if constraint is not None:      # its axes fit this shape, or an error now
            constraint.lowered(shape, f"Layer {self.name} weight '{name}' constraint")
        var = Variable(self, name, shape, initializer, trainable=trainable)
        var.regularizer, var.constraint = regularizer, constraint
        self._weights.append(var)
        return var

    def compute_output_shape(self, input_shape):
        raise NotImplementedError(f"{type(self).__name__} must implement compute_output_shape().")

    def compute_output_dtype(self, input_dtype):
        """Layers compute in float32; shape-only layers (Flatten, Reshape, ...) pass dtype on."""
        return "float32"

    # Whether int32 inputs are this layer's to take as they are: ids for an Embedding, or a
    # view (Flatten, Reshape) that hands them on unchanged. Every other layer computes in
    # float32 and reads an int32 input's values as floats, as Keras does: the graph gets a
    # cast in front of it (GraphBuilder.lower_node).
    _takes_int_inputs = False

    def _int_input_as_float(self, i: int) -> bool:
        """Whether input i, when it is int32, is cast to float32 before this layer reads it."""
        return not self._takes_int_inputs

    def lower(self, g, inputs):
        raise NotImplementedError(f"Layer {self.name} ({type(self).__name__}) cannot be "
                                  "compiled by kcc yet: it has no lower().")

    # -- weights ------------------------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    @property
    def weights(self):
        """Keras order: the trainable weights, then the non-trainable ones, each by creation."""
        return ([w for w in self._weights if w._trainable] +
                [w for w in self._weights if not w._trainable])

    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable]

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        assign_all(self.weights, weights, f"Layer {self.name}",
                   "" if self.built else " Call the layer on a tensor first to build its weights.")

    def count_params(self):
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer {self.name}, but the "
                             "layer isn't built. Call it on a tensor first.")
        return sum(w.size for w in self.weights)

    # -- config -------------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        if getattr(self, "activity_regularizer", None) is not None:   # as Keras's base Layer
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = self._batch_input_shape
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- nodes --------------------------------------------------------------------------
    @property
    def inbound_nodes(self):
        return self._inbound_nodes

    @property
    def outbound_nodes(self):
        return self._outbound_nodes

    def _node_attr(self, node_index, attr, what):
        nodes = self._inbound_nodes
        if not 0 <= node_index < len(nodes):
            raise ValueError(f"Asked to get {what} at node {node_index}, but layer {self.name} "
                             f"has only {len(nodes)} inbound nodes.")
        return _one_or_list(getattr(nodes[node_index], attr))

    def _only_node_attr(self, attr, what):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} is not connected: it has not been called "
                                 f"on a tensor yet, so it has no {what}.")
        if len(self._inbound_nodes) > 1:
            raise MultipleNodesError(
                f"Layer {self.name} has multiple inbound nodes, hence the notion of "
                f"\"layer {what}\" is ill-defined. Use `get_{what}_at(node_index)` instead.")
        return self._node_attr(0, attr, what)

    def _common_shape(self, attr, what):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} has never been called and thus has no "
                                 f"defined {what} shape.")
        shapes = [_one_or_list(getattr(n, attr)) for n in self._inbound_nodes]
        if any(s != shapes[0] for s in shapes):
            raise MultipleNodesError(
                f"Layer {self.name} has multiple inbound nodes with different {what} shapes, "
                f"hence the notion of \"{what} shape\" is ill-defined. "
                f"Use `get_{what}_shape_at(node_index)` instead.")
        return shapes[0]

    @property
    def input(self):
        return self._only_node_attr("input_tensors", "input")

    @property
    def output(self):
        return self._only_node_attr("output_tensors", "output")

    @property
    def input_shape(self):
        return self._common_shape("input_shapes", "input")

    @property
    def output_shape(self):
        return self._common_shape("output_shapes", "output")

    def get_input_at(self, node_index):
        return self._node_attr(node_index, "input_tensors", "input")

    def get_output_at(self, node_index):
        return self._node_attr(node_index, "output_tensors", "output")

    def get_input_shape_at(self, node_index):
        return self._node_attr(node_index, "input_shapes", "input shape")

    def get_output_shape_at(self, node_index):
        return self._node_attr(node_index, "output_shapes", "output shape")

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


Layer.build = _locked_build(Layer.build)
