"""RMSNormalization: each sample's values over `axis` (the trailing axes) scaled to unit root
mean square, then by the weight `scale`, as Keras 3's ops.rms_normalization:

    y = x * rsqrt(mean(x^2) + epsilon) * scale

Its rows are UnitNormalization's (kcc/ops/unit_norm.h), with another function of the sum of
squares and a trained gamma."""
import numbers

from kcc.frontend.layer import Layer
from kcc.layers.unit_normalization import lower_rows, trailing_axes


class RMSNormalization(Layer):
    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = sorted(int(a) for a in axis)
        elif isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            raise TypeError("Invalid value for `axis` argument: expected an int or a "
                            f"list/tuple of ints. Received: axis={axis}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or epsilon < 0:
            raise ValueError(f"Layer {self.name} (RMSNormalization): `epsilon` must be a number "
                             f">= 0. Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.scale = None

    def build(self, input_shape):
        trailing_axes(self, input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        self.axis = axes              # as Keras: a list once built
        self.scale = self.add_weight("scale", tuple(input_shape[a] for a in axes), "ones")

    def compute_output_shape(self, input_shape):
        trailing_axes(self, input_shape)
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}

    def lower(self, g, inputs):
        (x,) = inputs
        return [lower_rows(self, g, x, self.scale, self.epsilon)]
