"""ZeroPadding2D: rows of zeros above and below each image, columns left and right.

The layout follows the image layers' rule (kcc/layers/pooling.py, ImageLayer): explicit
`data_format`/`dim_ordering`, then Keras 1 spelling, then the input tensor's, then the
global default. Lowers to one `zero_pad2d` op (kcc/templates/layers/zero_pad2d.cpp.j2).
"""
import numbers

from kcc.layers import image_layout as il
from kcc.layers.pooling import ImageLayer


def _pad_amount(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0


def normalize_padding2d(padding, layer_name):
    """((top, bottom), (left, right)) from the spellings Keras 1, 2 and 3 accept: an int, a
    pair (rows, cols), a pair of pairs, Keras 1's (top, bottom, left, right) or its dict."""
    p = padding
    if isinstance(p, dict):
        keys = ("top_pad", "bottom_pad", "left_pad", "right_pad")
        if set(p) <= set(keys):
            p = tuple(p.get(k, 0) for k in keys)
    if _pad_amount(p):
        p = ((p, p), (p, p))
    elif isinstance(p, (tuple, list)) and len(p) == 4:
        p = ((p[0], p[1]), (p[2], p[3]))
    elif isinstance(p, (tuple, list)) and len(p) == 2:
        p = tuple((v, v) if _pad_amount(v) else v for v in p)
    try:
        (t, b), (l, r) = p
    except (TypeError, ValueError):
        t = None
    if t is None or not all(_pad_amount(v) for v in (t, b, l, r)):
        raise ValueError(f"Layer '{layer_name}': the `padding` argument must be a non-negative "
                         "integer, a tuple of 2 (rows, cols), or a tuple of 2 tuples of 2 "
                         "((top, bottom), (left, right)). Received: padding=" + repr(padding))
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
        oh, ow = h + t + b, w + l + r
        out_shape = self._layout(oh, ow, c)
        if (t, b, l, r) == (0, 0, 0, 0):
            return [g.view(x, out_shape)]
        # A sample is `planes` planes of `rows` rows; the input row (`width` floats) lands at
        # `offset` in a padded plane of rows `out_width` floats apart.
        last = self.data_format == il.CHANNELS_LAST
        k = c if last else 1                     # floats per pixel in a row
        attrs = {"data_format": self.data_format, "pad": (t, b, l, r), "planes": 1 if last else c,
                 "rows": h, "width": w * k, "out_width": ow * k,
                 "in_plane": h * w * k, "out_plane": oh * ow * k, "offset": (t * ow + l) * k}
        return [g.op("zero_pad2d", [x], out_shape, attrs=attrs)]
