"""Conv2D (Keras 2/3) and Convolution2D (Keras 1): 2D convolution over images.

output = activation(conv2d(input, kernel) + bias). Whatever the data format, the weights are
stored as Keras 3 stores them: kernel (kh, kw, in, out), bias (out,), so weights load as
Keras writes them and the kernel viewed as (kh*kw*in, out) is the GEMM's right-hand side.
The layout is resolved at the first call (see kcc/layers/image_layout.py) and then fixed.
"""
from kcc import activations, initializers
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.layers import image_layout as layout
from kcc.layers import winograd
from kcc.layers.args import (KERAS_DEFAULT, legacy, legacy_flag, positive_int, weight_rules,
                             weight_rules_config)
from kcc.utils.env import env_flag

# im2col bands. A band of output rows is one GEMM: (F x K) weights times (K x P) cols, P
# output pixels. Each call repacks the weights, so P must be large next to F; beyond that
# a small band keeps cols and output in cache. P >= 4F measured best on W5/W6 layers
# (single-threaded BLAS, this machine: 64 filters on 224x224 in 2-row bands 1.15x faster
# than 16-row ones, 3 channels -> 64 on 256x256 1.6x faster in 1-row bands, 256 filters
# on 54x54 as fast as 16 rows). Never more than 8 MB of cols, whatever the image.
_P_PER_FILTER = 4
_COLS_MAX = 2 * 1024 * 1024       # floats (8 MB)


# Shifted-GEMM forward (kcc/ops/conv.h): channels-first, stride 1, dilation 1. Its wide
# output band is F x rows x Wp floats; about 512 KB keeps it in L2 while the KH*KW tap GEMMs
# accumulate into it.
_WIDE_MAX = 128 * 1024            # floats


# Winograd (kcc/ops/winograd.h) for stride-1 3x3 and 5x5 layers whose input and output have
# at least this many channels: its GEMMs reduce over C (and over F for the input gradient),
# which must be long enough to run near the GEMM's peak. KCC_WINOGRAD=0 turns it off (to
# compare with the GEMM paths).
_WINOGRAD_MIN_CHANNELS = 16


def use_winograd(kernel, strides, dilation, channels, filters, out_rows, out_cols) -> int:
    """The output tile side m of the Winograd F(m, r) a layer runs, or 0 for the GEMM paths."""
    if not env_flag("KCC_WINOGRAD", True):
        return 0
    m = winograd.output_tile(kernel)
    if not m or strides != (1, 1) or dilation != (1, 1):
        return 0
    if min(channels, filters) < _WINOGRAD_MIN_CHANNELS or min(out_rows, out_cols) < m:
        return 0
    return m


# ... but each tap's GEMM reduces over the C input channels only: with few (an RGB or
# grey image) one im2col GEMM over all KH*KW*C taps is faster.
_SHIFT_MIN_CHANNELS = 16


def shift_rows(filters, out_rows, padded_cols):
    """Output rows per band of the shifted-GEMM forward."""
    return max(1, min(out_rows, _WIDE_MAX // (filters * padded_cols)))


def band_rows(k, out_rows, out_cols, filters):
    """Output rows per im2col band for a reduction length k (= kh*kw*channels)."""
    rows = -(-_P_PER_FILTER * filters // out_cols)
    return max(1, min(rows, out_rows, _COLS_MAX // (k * out_cols)))


def refuse_strided_dilation(layer):
    """Keras's error for strides and dilation both above 1 (any convolution, any rank)."""
    if any(s != 1 for s in layer.strides) and any(d != 1 for d in layer.dilation_rate):
        raise ValueError(f"Layer '{layer.name}': `strides > 1` is not compatible with "
                         f"`dilation_rate > 1` (as in Keras). Received: "
                         f"strides={layer.strides}, dilation_rate={layer.dilation_rate}")


class Conv2D(Layer):
    def __init__(self, filters=None, kernel_size=None, strides=None, padding=None,
                 data_format=None, dilation_rate=None, groups=1, activation=None,
                 use_bias=KERAS_DEFAULT, kernel_initializer=None, bias_initializer=None,
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, *, nb_filter=None, init=None,
                 border_mode=None, subsample=None, dim_ordering=None, bias=None, W_regularizer=None,
                 b_regularizer=None, W_constraint=None, b_constraint=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        filters = legacy("filters", filters, "nb_filter", nb_filter)
        if filters is None or kernel_size is None:
            raise TypeError(f"{cls} needs `filters` and `kernel_size`, e.g. Conv2D(64, (3, 3)) "
                            "(Keras 1: Convolution2D(64, 3, 3)).")
        self.filters = positive_int("filters", filters)
        self.kernel_size = layout.normalize_tuple(kernel_size, 2, "kernel_size", self.name)
        self.strides = layout.normalize_tuple(
            legacy("strides", strides, "subsample", subsample, (1, 1)), 2, "strides", self.name)
        self.padding = layout.normalize_padding(
            legacy("padding", padding, "border_mode", border_mode, "valid"), self.name)
        self.dilation_rate = layout.normalize_tuple(
            dilation_rate if dilation_rate is not None else (1, 1), 2, "dilation_rate", self.name)
        refuse_strided_dilation(self)
        self.groups = positive_int("groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"Layer '{self.name}': the number of filters must be evenly "
                             f"divisible by the number of groups. Received: groups={self.groups}, "
                             f"filters={self.filters}.")
        # 'default' was Keras 1's "use the global setting"
        explicit = legacy("data_format", data_format, "dim_ordering",
                          None if dim_ordering == "default" else dim_ordering)
        self._explicit_format = (None if explicit is None
                                 else layout.normalize_data_format(explicit, self.name))
        self._keras1 = (self._keras1_class or border_mode is not None or subsample is not None
                        or dim_ordering is not None)
        self.data_format = None                          # resolved at the first call
        self.activation = activations.get(activation, f"Layer {self.name} ({cls}): `activation`")
        self.use_bias = legacy_flag("use_bias", use_bias, "bias", bias, default=True)
        self.kernel_initializer = initializers.get(
            legacy("kernel_initializer", kernel_initializer, "init", init, "glorot_uniform"))
        self.bias_initializer = initializers.get(bias_initializer or "zeros")
        weight_rules(self, locals(), "kernel", "bias")
        self.input_spec = InputSpec(ndim=4)
        self.kernel = None
        self.bias = None

    _keras1_class = False

    # -- layout ----------------------------------------------------------------------------
    def _resolve_format(self, input_tensor=None):
        if self.data_format is None:
            self.data_format = layout.resolve_data_format(
                self.name, self._explicit_format, self._keras1, input_tensor)
        return self.data_format

    def _axes(self):
        """(channels, rows, cols) axes of a full (batch, ...) shape."""
        return (1, 2, 3) if self.data_format == layout.CHANNELS_FIRST else (3, 1, 2)

    def _describe(self):
        order = ("(batch, channels, rows, cols)" if self.data_format == layout.CHANNELS_FIRST
                 else "(batch, rows, cols, channels)")
        return f"{order} for data_format='{self.data_format}'"

    def __call__(self, inputs, **kwargs):
        tensors = self._collect_inputs(inputs)
        self._resolve_format(tensors[0])
        shape = tuple(tensors[0].shape)
        rank = len(self._axes()) + 1            # batch, channels and the spatial axes (Conv1D: 3)
        if len(shape) != rank:
            raise ValueError(f"Input 0 of layer {self.name} ({type(self).__name__}) is "
                             f"incompatible with the layer: expected a rank-{rank} input "
                             f"{self._describe()}, received shape {shape}.")
        out = super().__call__(inputs, **kwargs)
        layout.set_layout(out, self.data_format)
        return out

    # -- shapes and weights ----------------------------------------------------------------
    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.kernel = self.add_weight("kernel", self._kernel_shape(channels),
                                      self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._build_bias(input_shape, channels)

    def _input_channels(self, input_shape):
        """The channel count of the input (resolving the layout), which must be known."""
        self._resolve_format()                  # built directly or inside TimeDistributed
        c_axis = self._axes()[0]
        channels = input_shape[c_axis]
        if channels is None:
            raise ValueError(f"Layer {self.name}: the channel axis (axis {c_axis}, "
                             f"{self._describe()}) of its input must be known; received "
                             f"shape {tuple(input_shape)}.")
        return channels

    def _kernel_shape(self, channels):
        """Keras's kernel: (*kernel_size, channels / groups, filters)."""
        return tuple(self.kernel_size) + (self._group_channels(channels), self.filters)

    def _build_bias(self, input_shape, channels):
        """The bias (filters,) when use_bias, and the input spec that locks the channels."""
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        # Rows and cols may differ between calls (a shared conv on 32x32 and 64x64 images).
        self.input_spec = InputSpec(ndim=len(input_shape), axes={self._axes()[0]: channels})

    def _group_channels(self, channels):
        """The input channels each filter reads (Keras's kernel's third axis): C / groups."""
        if channels % self.groups:
            raise ValueError(f"Layer {self.name}: the number of input channels must be evenly "
                             f"divisible by the number of groups. Received groups={self.groups}, "
                             f"but the input has {channels} channels.")
        return channels // self.groups

    def compute_output_shape(self, input_shape):
        self._resolve_format()
        c_axis, h_axis, w_axis = self._axes()
        rows, cols = (layout.conv_output_length(input_shape[a], k, self.padding, s, d)
                      for a, k, s, d in zip((h_axis, w_axis), self.kernel_size, self.strides,
                                            self.dilation_rate))
        if (rows is not None and rows <= 0) or (cols is not None and cols <= 0):
            span = tuple((k - 1) * d + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
            raise ValueError(
                f"Layer {self.name}: input shape {tuple(input_shape)} ({self._describe()}) is "
                f"too small for a {self.kernel_size[0]}x{self.kernel_size[1]} kernel"
                f"{'' if self.dilation_rate == (1, 1) else f' dilated to {span[0]}x{span[1]}'} "
                f"with padding='{self.padding}': the output would be {rows}x{cols}. Expected "
                f"rows >= {span[0]} and cols >= {span[1]}, or padding='same'.")
        out = [input_shape[0], None, None, None]
        out[c_axis], out[h_axis], out[w_axis] = self.filters, rows, cols
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding,
                "data_format": self.data_format or self._explicit_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups,
                "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_rules_config(self, "kernel", "bias")}

    # -- lowering ------------------------------------------------------------------------------
    def lower(self, g, inputs):
        return [self._conv_op(g, inputs[0], [self.kernel, self.bias], self.filters,
                              self.activation, self.groups)]

    def _conv_op(self, g, x, weights, filters, activation, groups):
        """The conv2d op of this layer's geometry on x (DepthwiseConv2D's too)."""
        cf = self.data_format == layout.CHANNELS_FIRST
        c, h, w = x.shape if cf else (x.shape[2], x.shape[0], x.shape[1])
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        ho = layout.conv_output_length(h, kh, self.padding, sh, dh)
        wo = layout.conv_output_length(w, kw, self.padding, sw, dw)
        pad_top = layout.same_padding(h, kh, sh, dh)[0] if self.padding == "same" else 0
        pad_left = layout.same_padding(w, kw, sw, dw)[0] if self.padding == "same" else 0
        return conv2d_op(g, x, weights, data_format=self.data_format, image=(c, h, w),
                         out=(ho, wo), filters=filters, kernel=(kh, kw), strides=(sh, sw),
                         dilation=(dh, dw), pad=(pad_top, pad_left), padding=self.padding,
                         activation=activation, groups=groups)


def conv2d_op(g, x, weights, *, data_format, image, out, filters, kernel, strides, dilation, pad,
              padding, activation, shape=None, groups=1):
    """The `conv2d` op of one call, with the kernel path kcc picks for its geometry (direct
    1x1, im2col bands, shifted GEMM, Winograd) and that path's workspace. `image` is the
    input's (channels, rows, cols), `out` the output's (rows, cols); `pad` the zeros before
    the first row and column (those after are whatever `out` implies); `padding` is only
    named in the generated code's comments. Conv1D lowers onto it as a 1-row image, its
    output keeping its 1-D `shape` (the kernels read the geometry from the attrs)."""
    cf = data_format == layout.CHANNELS_FIRST
    (c, h, w), (ho, wo) = image, out
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilation
    pad_top, pad_left = pad
    if shape is None:
        shape = (filters, ho, wo) if cf else (ho, wo, filters)
    if groups > 1:      # each filter reads its group's channels: kcc/layers/depthwise.py
        return g.op("grouped_conv2d", [x], shape, weights=weights,
                    attrs={"activation": activation, "data_format": data_format,
                           "channels": c, "rows": h, "cols": w, "filters": filters,
                           "out_rows": ho, "out_cols": wo, "kernel": (kh, kw),
                           "strides": (sh, sw), "dilation": (dh, dw),
                           "pad": (pad_top, pad_left), "padding": padding, "groups": groups})
    # A 1x1 kernel with stride 1 needs no im2col: the input already is the matrix.
    direct = (kh, kw, sh, sw) == (1, 1, 1, 1)
    k = kh * kw * c
    tile_rows = ho if direct else band_rows(k, ho, wo, filters)
    # channels-first, stride 1, no dilation: the forward needs no im2col (see shift_rows)
    shifted = (cf and not direct and (sh, sw) == (1, 1) and (dh, dw) == (1, 1)
               and activation not in activations.ROW and c >= _SHIFT_MIN_CHANNELS)
    wino = use_winograd((kh, kw), (sh, sw), (dh, dw), c, filters, ho, wo)
    wg_fwd = wg_dx = ()
    workspace = {} if direct else {"cols": k * tile_rows * wo}
    srows = 0
    if wino:
        shifted = False
        wg_fwd = winograd.plan(c, h, w, filters, ho, wo, pad_top, pad_left, wino, kh)
        wg_dx = winograd.dx_plan(wg_fwd, wino, kh)
        workspace = winograd.workspace(wg_fwd, wg_dx, wino, kh)
    if shifted:
        hp, wp = ho + kh - 1, wo + kw - 1
        srows = shift_rows(filters, ho, wp)
        workspace["padded"] = c * hp * wp + kw
        workspace["wide"] = filters * srows * wp
    return g.op("conv2d", [x], shape, weights=weights,
                attrs={"activation": activation, "data_format": data_format,
                       "channels": c, "rows": h, "cols": w, "filters": filters,
                       "out_rows": ho, "out_cols": wo, "kernel": (kh, kw),
                       "strides": (sh, sw), "dilation": (dh, dw),
                       "pad": (pad_top, pad_left), "padding": padding,
                       "direct": direct, "tile_rows": tile_rows,
                       "shifted": shifted, "shift_rows": srows,
                       "winograd": wino, "wg_fwd": wg_fwd, "wg_dx": wg_dx},
                workspace=workspace)


class Convolution2D(Conv2D):
    """Keras 1: Convolution2D(nb_filter, nb_row, nb_col, border_mode=, subsample=, dim_ordering=).

    Channels-first unless `dim_ordering` says otherwise, as the guide's (3, 256, 256) needs."""
    _name_prefix = "convolution2d"
    _keras1_class = True

    def __init__(self, nb_filter=None, nb_row=None, nb_col=None, *, kernel_size=None, **kwargs):
        if kernel_size is None and (nb_row is not None or nb_col is not None):
            if nb_row is None or nb_col is None:
                raise TypeError("Convolution2D needs both `nb_row` and `nb_col`, e.g. "
                                "Convolution2D(64, 3, 3).")
            kernel_size = (nb_row, nb_col)
        if nb_filter is not None:
            kwargs["nb_filter"] = nb_filter
        super().__init__(kernel_size=kernel_size, **kwargs)
