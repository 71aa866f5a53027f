"""Pooling over images: MaxPooling2D, AveragePooling2D and their global forms, in both layouts.

Which axis is channels follows DESIGN.md ("Keras compatibility rules"; kcc/layers/
image_layout.py): an explicit `data_format`/`dim_ordering`, then the Keras 1 spelling
(`border_mode=` or `dim_ordering=`), then the layout the input tensor carries (a conv or
pool output), then the global default. So the guide's bare `MaxPooling2D((2, 2))` after a
`Convolution2D` pools a channels-first image. Every form lowers to one `pool2d` op
(kcc/templates/layers/pool2d.cpp.j2); a global pool is the whole image as one window.
"""
from kcc.frontend.layer import Layer
from kcc.layers import image_layout as il
from kcc.layers.args import legacy

_AXES = {il.CHANNELS_LAST: "(batch, rows, cols, channels)",
         il.CHANNELS_FIRST: "(batch, channels, rows, cols)"}


class ImageLayer(Layer):
    """A layer reading 4D images in one of two layouts. The layout is resolved when the layer
    is made (explicit, Keras 1 spelling, global default) and again at its first call, where
    the input tensor's layout outranks the global default; image outputs carry it on."""
    _image_output = True

    def _init_layout(self, data_format, dim_ordering, keras1):
        if dim_ordering == "default":            # Keras 1's "use the global setting"
            dim_ordering, keras1 = None, True
        self._explicit_format = legacy("data_format", data_format, "dim_ordering", dim_ordering)
        self._keras1 = bool(keras1 or dim_ordering is not None)
        self.data_format = il.resolve_data_format(self.name, self._explicit_format,
                                                  self._keras1, None)

    def __call__(self, inputs, **kwargs):
        if not self.built:      # the first call decides; a built layer keeps its layout
            self.data_format = il.resolve_data_format(self.name, self._explicit_format,
                                                      self._keras1, inputs)
        outputs = super().__call__(inputs, **kwargs)
        if self._image_output:
            il.set_layout(outputs, self.data_format)
        return outputs

    def _image(self, sample_shape):
        """(rows, cols, channels) of a per-sample image shape, or an error naming the layer."""
        if len(sample_shape) != 3:
            raise ValueError(f"Layer {self.name} expects 4D inputs {_AXES[self.data_format]}; "
                             f"received shape {(None,) + tuple(sample_shape)}")
        if self.data_format == il.CHANNELS_LAST:
            return tuple(sample_shape)
        c, h, w = sample_shape
        return h, w, c

    def _layout(self, h, w, c):
        """A per-sample image shape in this layer's layout."""
        return (h, w, c) if self.data_format == il.CHANNELS_LAST else (c, h, w)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def _pool_op(g, x, kind, data_format, image, out_image, window, strides, pad, out_shape):
    """The `pool2d` op: the geometry the template needs, named as kcc/ops/pool.h names it."""
    (h, w, c), (oh, ow) = image, out_image
    attrs = {"kind": kind, "data_format": data_format, "H": h, "W": w, "C": c, "OH": oh,
             "OW": ow, "pool": tuple(window), "strides": tuple(strides), "pad": tuple(pad)}
    return g.op("pool2d", [x], out_shape, attrs=attrs)


class _Pooling2D(ImageLayer):
    _kind = None

    def __init__(self, pool_size=(2, 2), strides=None, padding=None, data_format=None, *,
                 border_mode=None, dim_ordering=None, **kwargs):
        super().__init__(**kwargs)
        padding = legacy("padding", padding, "border_mode", border_mode, "valid")
        self.pool_size = il.normalize_tuple(pool_size, 2, "pool_size", self.name)
        self.strides = (self.pool_size if strides is None
                        else il.normalize_tuple(strides, 2, "strides", self.name))
        self.padding = il.normalize_padding(padding, self.name)
        self._init_layout(data_format, dim_ordering, keras1=border_mode is not None)

    def _geometry(self, sample_shape):
        """((rows, cols, channels), (out rows, out cols), (pad top, pad left))."""
        h, w, c = self._image(sample_shape)
        out = tuple(il.conv_output_length(n, k, self.padding, s)
                    for n, k, s in zip((h, w), self.pool_size, self.strides))
        if min(out) <= 0:
            raise ValueError(f"Layer {self.name}: pool_size {self.pool_size} is larger than the "
                             f"input's (rows, cols) = {(h, w)} with padding='valid' "
                             f"({self.data_format} input of shape "
                             f"{(None,) + tuple(sample_shape)}); "
                             "use padding='same' or a smaller pool_size.")
        pad = (0, 0)
        if self.padding == "same":
            pad = tuple(il.same_padding(n, k, s)[0]
                        for n, k, s in zip((h, w), self.pool_size, self.strides))
        return (h, w, c), out, pad

    def compute_output_shape(self, input_shape):
        (_, _, c), (oh, ow), _ = self._geometry(input_shape[1:])
        return (input_shape[0],) + self._layout(oh, ow, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}

    def lower(self, g, inputs):
        (x,) = inputs
        image, out, pad = self._geometry(x.shape)
        return [_pool_op(g, x, self._kind, self.data_format, image, out, self.pool_size,
                         self.strides, pad, self._layout(*out, image[2]))]


class MaxPooling2D(_Pooling2D):
    """The max of each pool_size window (the gradient goes to the first max of a tie)."""
    _kind = "max"


class AveragePooling2D(_Pooling2D):
    """The mean of each pool_size window; with padding='same', over its pixels inside the image."""
    _kind = "avg"


class _GlobalPooling2D(ImageLayer):
    _kind = None

    def __init__(self, data_format=None, keepdims=False, *, dim_ordering=None, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)
        self._image_output = self.keepdims
        self._init_layout(data_format, dim_ordering, keras1=False)

    def compute_output_shape(self, input_shape):
        _, _, c = self._image(input_shape[1:])
        return (input_shape[0],) + (self._layout(1, 1, c) if self.keepdims else (c,))

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}

    def lower(self, g, inputs):
        (x,) = inputs
        h, w, c = self._image(x.shape)
        out = self._layout(1, 1, c) if self.keepdims else (c,)
        return [_pool_op(g, x, self._kind, self.data_format, (h, w, c), (1, 1), (h, w),
                         (h, w), (0, 0), out)]


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The max over all pixels, per channel: (batch, channels)."""
    _kind = "max"


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean over all pixels, per channel: (batch, channels)."""
    _kind = "avg"


# Keras's short aliases (the auto names stay max_pooling2d_1, ...).
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
