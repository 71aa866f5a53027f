"""UnitNormalization: each sample's values over `axis` scaled to unit L2 norm, as Keras 3's
ops.normalize(x, axis, order=2, epsilon=1e-12): x * min(rsqrt(sum x^2), 1e12). The axes must
be the input's last ones (one contiguous row per leading index: kcc/ops/unit_norm.h, the math
RMSNormalization shares)."""
from math import prod

from kcc.frontend.layer import Layer


def trailing_axes(layer, input_shape):
    """How many trailing axes `layer.axis` (an int or a list) names, or an error naming the
    layer and what kcc takes (UnitNormalization's, RMSNormalization's)."""
    rank = len(input_shape)
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    for a in axes:
        if a >= rank or a < -rank:
            raise ValueError(f"Axis {layer.axis} is out of bounds for input shape "
                             f"{tuple(input_shape)}.")
    resolved = sorted(a % rank for a in axes)
    if resolved != list(range(rank - len(axes), rank)) or 0 in resolved:
        raise ValueError(f"Layer {layer.name} ({type(layer).__name__}) normalizes over the last "
                         f"axes of its input and never the batch axis: expected axis=-1 or a "
                         f"list of the trailing axes such as [-2, -1]. Received: "
                         f"axis={layer.axis} for an input of shape {tuple(input_shape)}")
    if any(input_shape[a] is None for a in resolved):
        raise ValueError(f"Layer {layer.name} ({type(layer).__name__}): the normalized axes "
                         f"{layer.axis} need known sizes; received an input of shape "
                         f"{tuple(input_shape)}.")
    return len(axes)


def lower_rows(layer, g, x, gamma, epsilon):
    """The unit_norm op over rows of the trailing axes `layer.axis` (kcc/ops/unit_norm.h;
    epsilon < 0: the unit norm)."""
    k = len(layer.axis) if isinstance(layer.axis, list) else 1
    row = prod(x.shape[len(x.shape) - k:])
    return g.op("unit_norm", [x], x.shape, weights=[gamma],
                attrs={"row": row, "rows": prod(x.shape) // row, "epsilon": epsilon})


class UnitNormalization(Layer):
    supports_masking = True     # as Keras 3: the mask passes through

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = list(axis)
        elif isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        else:
            raise TypeError("Invalid value for `axis` argument: expected an int or a "
                            f"list/tuple of ints. Received: axis={axis}")

    def _row(self, input_shape):
        return trailing_axes(self, input_shape)

    def build(self, input_shape):
        self._row(input_shape)

    def compute_output_shape(self, input_shape):
        self._row(input_shape)
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def lower(self, g, inputs):
        (x,) = inputs
        return [lower_rows(self, g, x, None, -1.0)]
