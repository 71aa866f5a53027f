"""Dropout: while training, zeroes a fraction `rate` of the inputs and scales the rest by
1 / (1 - rate); at inference it is the identity (the compiled code does both)."""
import numbers

from kcc.frontend.layer import Layer
from kcc.layers.args import legacy, unsupported


class Dropout(Layer):
    def __init__(self, rate=None, noise_shape=None, seed=None, *, p=None, **kwargs):
        rate = legacy("rate", rate, "p", p)      # Keras 1: Dropout(p=0.5)
        if (isinstance(rate, bool) or not isinstance(rate, numbers.Real)
                or not 0 <= rate < 1):
            raise ValueError("Received an invalid value for `rate`, expected a float in the "
                             f"range [0, 1). Received: rate={rate!r}")
        unsupported("Dropout", noise_shape=noise_shape)
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = seed

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}

    def lower(self, g, inputs):
        (x,) = inputs
        if self.rate == 0:
            return [x]
        attrs = {"rate": self.rate}
        if self.seed is not None:
            attrs["seed"] = self.seed
        return [g.op("dropout", [x], x.shape, attrs=attrs)]
