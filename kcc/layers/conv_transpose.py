"""Conv2DTranspose / Conv1DTranspose: the transposed ("fractionally strided") convolution.

output = activation(conv_transpose(input, kernel) + bias), as Keras 3: kernel (kh, kw,
filters, in_channels) (1-D: (k, filters, in)), bias (filters,), padding 'valid' or 'same',
strides, `output_padding` (each below its stride), dilation (with strides 1, as Keras 3
requires on every backend), both data formats.

A transposed convolution is the input gradient of a convolution: the *dual* conv, which
maps the transposed layer's output (filters channels) back to its input (in_channels). So
Keras's (kh, kw, filters, in) kernel is exactly the dual conv's (KH, KW, C, F) kernel, the
(K, F) GEMM operand of kcc/ops/conv.h as it stands, and one call lowers to a
`conv2d_transpose` op over that dual geometry (kcc::conv::Geometry: C = filters, H x W the
transposed output, F = in_channels, Ho x Wo the transposed input, PT/PL the rows and columns
Keras crops off the front of the full output). Its kernels are the conv2d op's paths run
the other way round (kcc/templates/layers/conv2d_transpose.*.j2):
  forward   = the conv's dx path: cols = W . x, then col2im (CUDA: gather) into y;
  backward  = the conv's forward on dz (im2col of dz, one GEMM with W) for dx, and the
              conv's kernel gradient with the roles of dz and x swapped (cols(dz)^T . x).
Conv1DTranspose is the same op on a one-row image, as Conv1D is for Conv2D.
"""
from kcc.frontend.input_spec import InputSpec
from kcc.layers import image_layout as layout
from kcc.layers.args import positive_int
from kcc.layers.conv1d import Sequence1D
from kcc.layers.convolutional import Conv2D, band_rows, refuse_strided_dilation


def transposed_length(n, kernel, padding, stride, dilation, output_padding):
    """(output length, front crop) of one axis, as Keras 3 computes them
    (keras/src/backend/common/backend_utils.py: the output shape, and the JAX padding that
    the torch backend crops its full (n - 1) * stride + span output to). The front crop is
    the dual convolution's padding before its first row: output o collects input i at tap t
    when o = i * stride + t * dilation - crop."""
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return (n - 1) * stride + span + extra, 0
    if output_padding is None:
        out, pad_len = n * stride, stride + span - 2
    else:
        out = (n - 1) * stride + span % 2 + output_padding
        pad_len = span + span % 2 - 2 + output_padding
    left_pad = min(pad_len // 2 + pad_len % 2, span - 1)
    return out, span - 1 - left_pad


class Conv2DTranspose(Conv2D):
    """Conv2D's arguments (initializers, regularizers, constraints, activation, use_bias)
    plus `output_padding`; no `groups` (Keras 3's transposed layers take none)."""

    def __init__(self, filters=None, kernel_size=None, strides=None, padding=None,
                 output_padding=None, data_format=None, dilation_rate=None, activation=None,
                 **kwargs):
        if "groups" in kwargs:
            raise TypeError(f"{type(self).__name__} does not take `groups` (Keras 3's transposed "
                            "convolutions have none).")
        for old in ("border_mode", "subsample", "dim_ordering", "nb_filter", "output_shape"):
            if old in kwargs:     # Keras 1's Deconvolution2D; its output_shape has no Keras 3 form
                raise TypeError(f"{type(self).__name__} does not take Keras 1's `{old}`; use "
                                "Keras 3's filters, kernel_size, strides, padding, "
                                "output_padding and data_format.")
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, **kwargs)
        self.output_padding = self._output_padding(output_padding, 2)

    def _output_padding(self, value, rank):
        if value is None:
            return None
        items = (value,) * rank if isinstance(value, int) and not isinstance(value, bool) else value
        try:
            items = tuple(items)
        except TypeError:
            items = ()
        if len(items) != rank or any(isinstance(v, bool) or not isinstance(v, int) or v < 0
                                     for v in items):
            raise ValueError(f"Layer '{self.name}': the `output_padding` argument must be a "
                             f"non-negative integer or a tuple of {rank} of them. Received: "
                             f"output_padding={value!r}")
        for i, (op, s) in enumerate(zip(items, self.strides)):
            if op >= s:
                raise ValueError(
                    f"Layer '{self.name}': invalid `output_padding` argument. Each value in "
                    f"`output_padding` must be strictly less than the corresponding `strides` "
                    f"value. At index {i}, `output_padding` is {op} and `strides` is {s}. "
                    f"Received: output_padding={items}, strides={self.strides}.")
        return items

    # -- shapes and weights ----------------------------------------------------------------
    def _kernel_shape(self, channels):
        return tuple(self.kernel_size) + (self.filters, channels)   # Keras: (..., filters, in)

    def _lengths(self, sizes):
        """[(output length, front crop)] per spatial axis (None lengths stay None)."""
        ops = self.output_padding or (None,) * len(sizes)
        lengths = [(None, 0) if n is None else transposed_length(n, k, self.padding, s, d, op)
                   for n, k, s, d, op in zip(sizes, self.kernel_size, self.strides,
                                             self.dilation_rate, ops)]
        if any(length is not None and length <= 0 for length, _ in lengths):
            raise ValueError(f"Layer {self.name}: input sizes {tuple(sizes)} "
                             f"({self._describe()}) give an empty output "
                             f"{tuple(length for length, _ in lengths)} with kernel_size "
                             f"{self.kernel_size}, padding='{self.padding}' and output_padding="
                             f"{self.output_padding}.")
        return lengths

    def compute_output_shape(self, input_shape):
        self._resolve_format()
        c_axis, *spatial = self._axes()
        out = [input_shape[0]] + [None] * (len(input_shape) - 1)
        out[c_axis] = self.filters
        for a, (length, _) in zip(spatial, self._lengths([input_shape[a] for a in spatial])):
            out[a] = length
        return tuple(out)

    def get_config(self):
        config = {**super().get_config(), "output_padding": self.output_padding}
        del config["groups"]
        return config

    # -- lowering ------------------------------------------------------------------------------
    def lower(self, g, inputs):
        (x,) = inputs
        cf = self.data_format == layout.CHANNELS_FIRST
        c, h, w = x.shape if cf else (x.shape[2], x.shape[0], x.shape[1])
        (ho, pt), (wo, pl) = self._lengths([h, w])
        return [conv2d_transpose_op(
            g, x, [self.kernel, self.bias], data_format=self.data_format, image=(c, h, w),
            out=(ho, wo), filters=self.filters, kernel=self.kernel_size, strides=self.strides,
            dilation=self.dilation_rate, crop=(pt, pl), padding=self.padding,
            activation=self.activation)]


def conv2d_transpose_op(g, x, weights, *, data_format, image, out, filters, kernel, strides,
                        dilation, crop, padding, activation, shape=None):
    """The `conv2d_transpose` op of one call. `image` is the input's (channels, rows, cols),
    `out` the output's (rows, cols), `crop` the rows and columns cut off the front of the full
    output. The attrs describe the dual convolution (see the module docstring): its
    "channels", "rows", "cols" are this layer's output, its "filters", "out_rows",
    "out_cols" this layer's input; "tile_rows" bands the dual output rows (this layer's
    input rows) so the cols scratch stays bounded, as conv2d's im2col bands."""
    cf = data_format == layout.CHANNELS_FIRST
    (c_in, h_in, w_in), (h, w) = image, out
    k = kernel[0] * kernel[1] * filters          # the dual conv's reduction length
    tile_rows = band_rows(k, h_in, w_in, c_in)
    if shape is None:
        shape = (filters, h, w) if cf else (h, w, filters)
    return g.op("conv2d_transpose", [x], shape, weights=weights,
                attrs={"activation": activation, "data_format": data_format,
                       "channels": filters, "rows": h, "cols": w, "filters": c_in,
                       "out_rows": h_in, "out_cols": w_in, "kernel": tuple(kernel),
                       "strides": tuple(strides), "dilation": tuple(dilation),
                       "pad": tuple(crop), "padding": padding, "tile_rows": tile_rows},
                workspace={"cols": k * tile_rows * w_in})


class Conv1DTranspose(Sequence1D, Conv2DTranspose):
    """Conv2DTranspose's arguments with a 1-D kernel_size, strides, output_padding and
    dilation_rate, on (batch, steps, channels) or (batch, channels, steps): one
    `conv2d_transpose` op on a one-row image, as Conv1D lowers onto conv2d."""

    def __init__(self, filters=None, kernel_size=None, strides=None, padding=None,
                 output_padding=None, data_format=None, dilation_rate=None, activation=None,
                 **kwargs):
        cls = type(self).__name__
        if filters is None or kernel_size is None:
            raise TypeError(f"{cls} needs `filters` and `kernel_size`, e.g. {cls}(64, 3).")
        super().__init__(positive_int("filters", filters), (1, 1), data_format=data_format,
                         activation=activation, **kwargs)
        self.kernel_size = layout.normalize_tuple(kernel_size, 1, "kernel_size", self.name)
        self.strides = layout.normalize_tuple(strides if strides is not None else 1, 1,
                                              "strides", self.name)
        self.dilation_rate = layout.normalize_tuple(
            dilation_rate if dilation_rate is not None else 1, 1, "dilation_rate", self.name)
        self.padding = layout.normalize_padding(padding or "valid", self.name)
        refuse_strided_dilation(self)
        self.output_padding = self._output_padding(output_padding, 1)
        self._keras1 = False
        self.input_spec = InputSpec(ndim=3)

    def lower(self, g, inputs):
        (x,) = inputs
        cf = self.data_format == layout.CHANNELS_FIRST
        c, steps = x.shape if cf else x.shape[::-1]
        ((out, crop),) = self._lengths([steps])
        (k,), (s,), (d,) = self.kernel_size, self.strides, self.dilation_rate
        # (steps, C) is the 1-row image (1, steps, C); (C, steps) is (C, 1, steps)
        return [conv2d_transpose_op(
            g, x, [self.kernel, self.bias], data_format=self.data_format, image=(c, 1, steps),
            out=(1, out), filters=self.filters, kernel=(1, k), strides=(1, s),
            dilation=(1, d), crop=(0, crop), padding=self.padding, activation=self.activation,
            shape=(self.filters, out) if cf else (out, self.filters))]


Convolution2DTranspose = Conv2DTranspose        # Keras 2/3's alias
Convolution1DTranspose = Conv1DTranspose
