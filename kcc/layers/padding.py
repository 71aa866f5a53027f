"""ZeroPadding2D: rows of zeros above and below each image, columns left and right;
ZeroPadding1D: steps of zeros before and after each sequence.

The layout follows the image layers' rule (kcc/layers/pooling.py, ImageLayer): explicit
`data_format`/`dim_ordering`, then Keras 1 spelling, then the input tensor's, then the
global default. Both lower to one `zero_pad2d` op (pad_op; kcc/templates/layers/
zero_pad2d.cpp.j2), which Cropping1D/2D (kcc/layers/cropping.py) run the other way.
"""
import numbers

from kcc.layers import image_layout as il
from kcc.layers.pooling import ImageLayer
from kcc.layers.pooling1d import SequenceLayer


def _pad_amount(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0


def normalize_pair(value, name, layer_name):
    """(before, after) from a non-negative int or a pair of them (Keras's standardize_tuple
    with allow_zero=True), or an error naming the layer and the argument."""
    p = (value, value) if _pad_amount(value) else value
    if not (isinstance(p, (tuple, list)) and len(p) == 2 and all(_pad_amount(v) for v in p)):
        raise ValueError(f"Layer '{layer_name}': the `{name}` argument must be a non-negative "
                         f"integer or a tuple of 2 non-negative integers (before, after). "
                         f"Received: {name}={value!r}")
    return int(p[0]), int(p[1])


def normalize_padding2d(padding, layer_name, name="padding", keras1=True):
    """((top, bottom), (left, right)) from the spellings Keras 1, 2 and 3 accept: an int, a
    pair (rows, cols), a pair of pairs, and with `keras1` Keras 1's (top, bottom, left,
    right) or its dict."""
    p = padding
    if keras1 and isinstance(p, dict):
        keys = ("top_pad", "bottom_pad", "left_pad", "right_pad")
        if set(p) <= set(keys):
            p = tuple(p.get(k, 0) for k in keys)
    if _pad_amount(p):
        p = ((p, p), (p, p))
    elif keras1 and isinstance(p, (tuple, list)) and len(p) == 4:
        p = ((p[0], p[1]), (p[2], p[3]))
    elif isinstance(p, (tuple, list)) and len(p) == 2:
        p = tuple((v, v) if _pad_amount(v) else v for v in p)
    try:
        (t, b), (l, r) = p
    except (TypeError, ValueError):
        t = None
    if t is None or not all(_pad_amount(v) for v in (t, b, l, r)):
        raise ValueError(f"Layer '{layer_name}': the `{name}` argument must be a non-negative "
                         "integer, a tuple of 2 (rows, cols), or a tuple of 2 tuples of 2 "
                         f"((top, bottom), (left, right)). Received: {name}={padding!r}")
    return (int(t), int(b)), (int(l), int(r))


class ZeroPadding2D(ImageLayer):
    def __init__(self, padding=(1, 1), data_format=None, *, dim_ordering=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = normalize_padding2d(padding, self.name)
        self._init_layout(data_format, dim_ordering, keras1=False)

    def compute_output_shape(self, input_shape):
        h, w, c = self._image(input_shape[1:])
        (t, b), (l, r) = self.padding
        return (input_shape[0],) + self._layout(h + t + b, w + l + r, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}

    def lower(self, g, inputs):
        (x,) = inputs
        h, w, c = self._image(x.shape)
        (t, b), (l, r) = self.padding
        return [pad_op(g, x, (h, w, c), (t, b, l, r), self.data_format,
                       self._layout(h + t + b, w + l + r, c))]


class ZeroPadding1D(SequenceLayer):
    """(batch, steps, channels) -> (batch, before + steps + after, channels), or the
    channels_first (batch, channels, steps) padded along steps."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = normalize_pair(padding, "padding", self.name)
        self._init_layout(data_format, None, keras1=False)

    def compute_output_shape(self, input_shape):
        steps, c = self._sequence(input_shape[1:])
        return (input_shape[0],) + self._layout(steps + sum(self.padding), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}

    def lower(self, g, inputs):
        (x,) = inputs
        steps, c = self._sequence(x.shape)
        image, pad = sequence_image(steps, c, self.padding, self.data_format)
        return [pad_op(g, x, image, pad, self.data_format,
                       self._layout(steps + sum(self.padding), c))]


def sequence_image(steps, c, pad, data_format):
    """A sequence as pad_op's one-row image and its (before, after) as (top, bottom, left,
    right): channels_last (steps, C) is (steps, 1, C), channels_first (C, steps) (C, 1, steps)."""
    if data_format == il.CHANNELS_LAST:
        return (steps, 1, c), (pad[0], pad[1], 0, 0)
    return (1, steps, c), (0, 0, pad[0], pad[1])


def pad_op(g, x, image, pad, data_format, out_shape, crop=False):
    """The `zero_pad2d` op: the (rows, cols, channels) `image` with (top, bottom, left, right)
    `pad` of zeros around it (crop=False: x is the image, the output the padded one), or cut
    out of the padded one (crop=True: x is the padded image, the output the image). A
    sequence is a one-row image: (steps, C) as (steps, 1, C), (C, steps) as (C, 1, steps)."""
    h, w, c = image
    t, b, l, r = pad
    if pad == (0, 0, 0, 0):
        return g.view(x, out_shape)
    # A sample is `planes` planes; the image's rows (`width` floats each) sit at `offset` in
    # a padded plane of rows `wide` floats apart.
    last = data_format == il.CHANNELS_LAST
    k = c if last else 1                     # floats per pixel in a row
    oh, ow = h + t + b, w + l + r
    attrs = {"data_format": data_format, "pad": pad, "crop": crop, "planes": 1 if last else c,
             "rows": h, "width": w * k, "wide": ow * k, "plane": h * w * k,
             "wide_plane": oh * ow * k, "offset": (t * ow + l) * k}
    return g.op("zero_pad2d", [x], out_shape, attrs=attrs)
