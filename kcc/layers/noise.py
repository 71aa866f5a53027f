"""GaussianNoise and GaussianDropout: training-only noise, the identity at inference (the
compiled code does both), as Keras 3.

GaussianNoise adds stddev * z; GaussianDropout multiplies by 1 + sqrt(rate / (1 - rate)) * z,
z ~ N(0, 1). Both lower to the `noise` op (kcc/templates/layers/noise.cpp.j2), whose z is a
pure function of (seed, step, row, column) (kcc/ops/noise.h, dropout's hash), so backward
recomputes it, threads and CUDA draw the same numbers, and `seed` works as Dropout's.
"""
import math
import numbers

from kcc.frontend.layer import Layer
from kcc.layers.args import legacy


def _fraction(owner, name, value, closed):
    """A float in [0, 1] (closed) or [0, 1), or a ValueError naming the layer and argument."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= 0
          and (value <= 1 if closed else value < 1))
    if not ok:
        raise ValueError(f"Layer '{owner}': received an invalid value for `{name}`, expected a "
                         f"float in the range [0, 1{']' if closed else ')'}. "
                         f"Received: {name}={value!r}")
    return float(value)


class _Noise(Layer):
    supports_masking = True     # as Keras 3: the mask passes through
    _multiply = False

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def _stddev(self):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def lower(self, g, inputs):
        (x,) = inputs
        stddev = self._stddev()
        if stddev == 0:
            return [x]
        attrs = {"stddev": stddev, "multiply": self._multiply}
        if self.seed is not None:
            attrs["seed"] = self.seed
        return [g.op("noise", [x], x.shape, attrs=attrs)]


class GaussianNoise(_Noise):
    """y = x + stddev * z in training (Keras 1: `sigma`)."""

    def __init__(self, stddev=None, seed=None, *, sigma=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = _fraction(self.name, "stddev", legacy("stddev", stddev, "sigma", sigma), True)

    def _stddev(self):
        return self.stddev

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    """y = x * (1 + sqrt(rate / (1 - rate)) * z) in training (Keras 1: `p`)."""
    _multiply = True

    def __init__(self, rate=None, seed=None, *, p=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = _fraction(self.name, "rate", legacy("rate", rate, "p", p), False)

    def _stddev(self):
        return math.sqrt(self.rate / (1.0 - self.rate))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
