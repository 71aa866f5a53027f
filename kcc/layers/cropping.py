"""Cropping1D and Cropping2D: steps cut from both ends of each sequence, rows and columns
from the borders of each image (Keras's `cropping`: an int, a pair, or for images a pair of
pairs ((top, bottom), (left, right))).

Cropping is padding run backwards: the output is the image inside the input, so both
lower to the `zero_pad2d` op with crop=True (kcc/layers/padding.py, pad_op); its backward
puts dy back in zeros. Cropping2D's layout follows the image layers' rule (ImageLayer);
Cropping1D, as in Keras, always crops axis 1 of (batch, steps, features).
"""
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.layers import image_layout as il
from kcc.layers.padding import normalize_padding2d, normalize_pair, pad_op, sequence_image
from kcc.layers.pooling import ImageLayer


def _check_left(layer, crop, size, axis, shape):
    if crop[0] + crop[1] >= size:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): cropping {crop} "
                         f"leaves nothing of the {size} entries of axis {axis} of its input "
                         f"of shape {(None,) + tuple(shape)}; the crops along an axis must sum "
                         f"to less than its size. Received: cropping={layer.cropping}")


class Cropping1D(Layer):
    """(batch, steps, features) -> (batch, steps - before - after, features)."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = normalize_pair(cropping, "cropping", self.name)
        self.input_spec = InputSpec(ndim=3)

    def compute_output_shape(self, input_shape):
        _check_left(self, self.cropping, input_shape[1], 1, input_shape[1:])
        return (input_shape[0], input_shape[1] - sum(self.cropping), input_shape[2])

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}

    def lower(self, g, inputs):
        (x,) = inputs
        steps, c = x.shape
        out = steps - sum(self.cropping)
        image, pad = sequence_image(out, c, self.cropping, il.CHANNELS_LAST)
        return [pad_op(g, x, image, pad, il.CHANNELS_LAST, (out, c), crop=True)]


class Cropping2D(ImageLayer):
    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, *, dim_ordering=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.cropping = normalize_padding2d(cropping, self.name, "cropping", keras1=False)
        self._init_layout(data_format, dim_ordering, keras1=False)

    def _cropped(self, sample_shape):
        """(rows, cols, channels) of the output image."""
        h, w, c = self._image(sample_shape)
        rows, cols = self.cropping
        _check_left(self, rows, h, "rows", sample_shape)
        _check_left(self, cols, w, "cols", sample_shape)
        return h - sum(rows), w - sum(cols), c

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._layout(*self._cropped(input_shape[1:]))

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}

    def lower(self, g, inputs):
        (x,) = inputs
        image = self._cropped(x.shape)
        (t, b), (l, r) = self.cropping
        return [pad_op(g, x, image, (t, b, l, r), self.data_format, self._layout(*image),
                       crop=True)]
