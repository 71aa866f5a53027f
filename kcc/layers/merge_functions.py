"""The functional forms of the merge layers.

Keras 2/3: `concatenate(inputs, axis=-1)`, `add`, `subtract`, `multiply`, `average`,
`maximum`, `minimum`, `dot(inputs, axes=-1, normalize=False)`: each makes the layer and calls
it. Keras 1 (the guide): `merge(inputs, mode='sum'|'mul'|'concat'|'ave'|'max'|'dot'|'cos',
concat_axis=-1, dot_axes=-1, name=None)`, whose layers are named merge_1, merge_2, ...
"""
from kcc.frontend import naming
from kcc.layers.args import unsupported
from kcc.layers.merge import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply,
                              Subtract, check_not_layers)


def concatenate(inputs, axis=-1, **kwargs):
    check_not_layers(inputs, "concatenate()")
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    check_not_layers(inputs, "add()")
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    check_not_layers(inputs, "subtract()")
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    check_not_layers(inputs, "multiply()")
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    check_not_layers(inputs, "average()")
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    check_not_layers(inputs, "maximum()")
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    check_not_layers(inputs, "minimum()")
    return Minimum(**kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    check_not_layers(inputs, "dot()")
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)


_MODES = {"sum": Add, "mul": Multiply, "ave": Average, "max": Maximum}
_VALID = ("sum", "mul", "concat", "ave", "cos", "dot", "max")


def merge(inputs, mode="sum", concat_axis=-1, dot_axes=-1, output_shape=None, output_mask=None,
          arguments=None, node_indices=None, tensor_indices=None, name=None):
    """Keras 1's merge of a list of tensors."""
    check_not_layers(inputs, "merge()")
    if callable(mode):
        raise NotImplementedError("merge(mode=<a function>) is not supported by kcc: use one of "
                                  f"the modes {list(_VALID)} (or a merge layer such as Add).")
    if mode not in _VALID:
        raise ValueError(f"Invalid merge mode: {mode!r}. Valid modes: {list(_VALID)}")
    unsupported("merge", output_shape=output_shape, output_mask=output_mask,
                arguments=arguments, node_indices=node_indices, tensor_indices=tensor_indices)
    if mode == "cos":
        raise NotImplementedError("merge(mode='cos') (cosine proximity) is not supported by kcc "
                                  "yet.")
    name = name if name is not None else naming.unique_name("merge")
    if mode == "concat":
        layer = Concatenate(axis=concat_axis, name=name)
    elif mode == "dot":
        layer = Dot(axes=dot_axes, name=name)
    else:
        layer = _MODES[mode](name=name)
    return layer(inputs)
