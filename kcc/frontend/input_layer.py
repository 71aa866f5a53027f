"""Input() and InputLayer: where a functional graph starts.

An InputLayer has one node with no inputs; its output tensor is what the user feeds.
"""
from kcc.frontend.dtypes import standardize_dtype
from kcc.frontend.layer import Layer
from kcc.frontend.node import Node
from kcc.frontend.shapes import standardize_shape
from kcc.frontend.tensor import KerasTensor


def _batch_shape(shape, batch_shape, batch_size):
    if shape is not None and batch_shape is not None:
        raise ValueError("Pass either `shape` or `batch_shape` to Input, not both. "
                         f"Received: shape={shape!r}, batch_shape={batch_shape!r}")
    if batch_shape is not None:
        return standardize_shape(batch_shape, "batch_shape", batch=True)
    if shape is not None:
        if batch_size is not None:
            batch_size = standardize_shape((batch_size,), "batch_size")[0]
        return (batch_size,) + standardize_shape(shape, "shape")
    raise ValueError("Input needs a `shape` (per sample, e.g. shape=(784,)) "
                     "or a `batch_shape` (e.g. batch_shape=(None, 784)).")


def _refuse_kinds(name, **flags):
    """Keras's sparse, ragged and optional (None-able) inputs: kcc feeds dense arrays only."""
    who = "Input" if name is None else f"Input '{name}'"
    for flag, value in flags.items():
        if value:
            raise ValueError(f"{who}: kcc does not support {flag} inputs; received {flag}="
                             f"{value!r}. kcc takes dense float32 or int32 arrays, every input "
                             "given.")


class InputLayer(Layer):
    _name_prefix = "input"

    def __init__(self, shape=None, batch_size=None, dtype="float32", batch_shape=None,
                 name=None, *, input_shape=None, batch_input_shape=None, input_dtype=None,
                 sparse=False, ragged=False, optional=False, input_tensor=None):
        # Keras 1 spells these input_shape / batch_input_shape / input_dtype.
        _refuse_kinds(name, sparse=sparse, ragged=ragged, optional=optional)
        if input_tensor is not None:
            raise ValueError("kcc does not support InputLayer(input_tensor=...): inputs are fed "
                             "as numpy arrays.")
        shape = shape if shape is not None else input_shape
        batch_shape = batch_shape if batch_shape is not None else batch_input_shape
        full_shape = _batch_shape(shape, batch_shape, batch_size)
        dtype = standardize_dtype(input_dtype if input_dtype is not None else dtype)
        super().__init__(name=name)
        self.built = True
        self.batch_shape = full_shape
        self.dtype = dtype
        Node(self, [], [KerasTensor(full_shape, dtype, self.name)])

    # The input of an input layer is the tensor it feeds (as in Keras).
    @property
    def input(self):
        return self.output

    def get_input_at(self, node_index):
        return self.get_output_at(node_index)

    @property
    def input_shape(self):
        return self.batch_shape

    def get_input_shape_at(self, node_index):
        return self.get_output_shape_at(node_index)

    def __call__(self, inputs, **kwargs):
        raise TypeError(f"{self.name} is an InputLayer: it is not called on tensors. "
                        "Use its tensor (`Input(...)` returns it) as a layer's input instead.")

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "name": self.name}

    def lower(self, g, inputs):
        raise RuntimeError(f"{self.name} is a model input: it is fed, not lowered.")


def Input(shape=None, batch_size=None, dtype="float32", batch_shape=None, name=None,
          sparse=False, tensor=None, ragged=False, optional=False):
    """A symbolic input tensor: `Input(shape=(784,))` has shape (None, 784)."""
    if tensor is not None:
        raise ValueError("kcc does not support Input(tensor=...): inputs are fed as numpy arrays.")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape,
                       name=name, sparse=sparse, ragged=ragged, optional=optional)
    return layer.output
