"""Masking(mask_value=0.): the steps of a (batch, timesteps, features) sequence whose
features all equal mask_value are masked, as in Keras 3: the layer's output is its input with
those steps' features multiplied by zero, and it hands on a mask (kcc/frontend/mask.py) that
the recurrent layers after it honour. One "masking" op, y = x m per step, dx = dy m; the
mask m is the "mask" op Keras's compute_mask describes (any feature != mask_value).
"""
import numbers

from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.frontend.mask import Mask


class Masking(Layer):
    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise ValueError(f"Layer {self.name} (Masking): `mask_value` must be a number; "
                             f"received mask_value={mask_value!r}.")
        self.mask_value = float(mask_value)
        self.input_spec = InputSpec(ndim=3)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, previous_mask):
        return Mask("any_not_equal", tuple(inputs.shape[1:-1]), tensor=inputs,
                    value=self.mask_value)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}

    def lower(self, g, inputs):
        (x,) = inputs
        m = g.mask_op("any_not_equal", self.mask_value, [x], x.shape[:-1])
        return [g.op("masking", [x, m], x.shape, attrs={"features": x.shape[-1]})]
