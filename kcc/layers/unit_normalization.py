"""UnitNormalization: each sample's values over `axis` scaled to unit L2 norm, as Keras 3's
ops.normalize(x, axis, order=2, epsilon=1e-12): x * min(rsqrt(sum x^2), 1e12). The axes must
be the input's last ones (one contiguous row per leading index: kcc/ops/unit_norm.h)."""
from math import prod

from kcc.frontend.layer import Layer


class UnitNormalization(Layer):
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
        """How many trailing axes form a row, or an error naming what kcc takes."""
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if a >= rank or a < -rank:
                raise ValueError(f"Axis {self.axis} is out of bounds for input shape "
                                 f"{tuple(input_shape)}.")
        resolved = sorted(a % rank for a in axes)
        if resolved != list(range(rank - len(axes), rank)) or 0 in resolved:
            raise ValueError(f"Layer {self.name} (UnitNormalization) normalizes over the last "
                             f"axes of its input and never the batch axis: expected axis=-1 or "
                             f"a list of the trailing axes such as [-2, -1]. Received: "
                             f"axis={self.axis} for an input of shape {tuple(input_shape)}")
        return len(axes)

    def build(self, input_shape):
        self._row(input_shape)

    def compute_output_shape(self, input_shape):
        self._row(input_shape)
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def lower(self, g, inputs):
        (x,) = inputs
        k = len(self.axis) if isinstance(self.axis, list) else 1
        row = prod(x.shape[len(x.shape) - k:])
        return [g.op("unit_norm", [x], x.shape, attrs={"row": row, "rows": prod(x.shape) // row})]
