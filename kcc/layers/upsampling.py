"""UpSampling1D and UpSampling2D (interpolation='nearest'): each step, row or column
repeated `size` times, as Keras's ops.repeat.

They lower onto existing ops, as RepeatVector does: the input viewed as (outer, 1, inner)
and concatenated `size` times on the middle axis, i.e. each block of `inner` floats copied
`size` times in place. UpSampling2D is two of these, columns then rows. The concat's
backward sums the copies of each float's gradient in order (concat.cpp.j2; on CUDA one
launch per run, a thread per float summing its copies: deterministic, no atomics).
UpSampling2D's layout follows the image layers' rule (ImageLayer); UpSampling1D, as in
Keras, always repeats axis 1 of (batch, steps, features).
"""
import numbers

from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.layers import image_layout as il
from kcc.layers.pooling import ImageLayer


def repeat_blocks(g, x, outer, inner, size):
    """x seen as `outer` blocks of `inner` floats per sample, each block repeated `size`
    times: a (outer, size, inner) value."""
    if size == 1:
        return g.view(x, (outer, 1, inner))
    return g.op("concat", [g.view(x, (outer, 1, inner))], (outer, size, inner),
                attrs={"axis": 1, "outer": outer, "operands": [0] * size,
                       "widths": [inner] * size})


class UpSampling1D(Layer):
    """(batch, steps, features) -> (batch, steps * size, features)."""

    def __init__(self, size=2, *, length=None, **kwargs):
        super().__init__(**kwargs)
        if length is not None:              # Keras 1's name
            size = length
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size <= 0:
            raise ValueError(f"Layer '{self.name}' (UpSampling1D): the `size` argument must be a "
                             f"positive integer (the repeats of each step). Received: "
                             f"size={size!r}")
        self.size = int(size)
        self.input_spec = InputSpec(ndim=3)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] * self.size, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "size": self.size}

    def lower(self, g, inputs):
        (x,) = inputs
        steps, c = x.shape
        return [g.view(repeat_blocks(g, x, steps, c, self.size), (steps * self.size, c))]


class UpSampling2D(ImageLayer):
    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", *,
                 dim_ordering=None, **kwargs):
        super().__init__(**kwargs)
        self.size = il.normalize_tuple(size, 2, "size", self.name)
        if not isinstance(interpolation, str) or interpolation.lower() != "nearest":
            raise ValueError(f"Layer '{self.name}' (UpSampling2D): kcc supports "
                             f"interpolation='nearest' only (each pixel repeated). Received: "
                             f"interpolation={interpolation!r}")
        self.interpolation = "nearest"
        self._init_layout(data_format, dim_ordering, keras1=False)

    def compute_output_shape(self, input_shape):
        h, w, c = self._image(input_shape[1:])
        return (input_shape[0],) + self._layout(h * self.size[0], w * self.size[1], c)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}

    def lower(self, g, inputs):
        (x,) = inputs
        h, w, c = self._image(x.shape)
        sh, sw = self.size
        k = c if self.data_format == il.CHANNELS_LAST else 1   # floats per pixel in a row
        planes = 1 if self.data_format == il.CHANNELS_LAST else c
        cols = repeat_blocks(g, x, planes * h * w, k, sw)          # each pixel sw times
        rows = repeat_blocks(g, cols, planes * h, w * sw * k, sh)  # each wide row sh times
        return [g.view(rows, self._layout(h * sh, w * sw, c))]
