"""Conv1D (Keras 2/3) and Convolution1D (Keras 1): convolution along the steps of a sequence.

output = activation(conv1d(input, kernel) + bias), on (batch, steps, channels) inputs
(channels_last, the default) or (batch, channels, steps). The weights are Keras's: kernel
(kernel_size, in, filters), bias (filters,).

A sequence is a one-row image: (steps, channels) is (1, steps, channels) in memory, and a
(k, in, filters) kernel is a (1, k, in, filters) one. So a call lowers to one `conv2d` op
(kcc/layers/convolutional.py, conv2d_op) with a 1 x k kernel: its C++ and CUDA kernels,
backward and export serve Conv1D as they are. 'causal' padding is 'valid' after
dilation * (k - 1) zeros before the first step, which the conv2d op takes as its left
padding (no padded copy of the input).

The layout: an explicit `data_format`, then the layout the input tensor carries (a Conv1D or
1-D pooling output), then kcc.backend.image_data_format(), as Keras 3. Keras 1's 1-D layers
were channels-last whatever their spelling, so `border_mode=` does not make them
channels-first as it does the 2-D ones.
"""
from kcc.frontend.input_spec import InputSpec
from kcc.layers import image_layout as layout
from kcc.layers.args import legacy, positive_int
from kcc.layers.convolutional import Conv2D, conv2d_op, refuse_strided_dilation

_PADDINGS = ("valid", "same", "causal")


def normalize_padding1d(value, layer_name):
    """'valid' | 'same' | 'causal' (Keras 2/3 `padding`, Keras 1 `border_mode`)."""
    if isinstance(value, str) and value.lower() in _PADDINGS:
        return value.lower()
    raise ValueError(f"Layer '{layer_name}': received an invalid value for `padding`, "
                     f"expected 'valid', 'same' or 'causal'. Received: padding={value!r}")


def output_steps(steps, kernel, padding, stride, dilation):
    """(output steps, zeros before the first step) of a 1-D window, as Keras computes them."""
    if padding == "causal":
        pad = dilation * (kernel - 1)
        return layout.conv_output_length(steps + pad, kernel, "valid", stride, dilation), pad
    pad = layout.same_padding(steps, kernel, stride, dilation)[0] if padding == "same" else 0
    return layout.conv_output_length(steps, kernel, padding, stride, dilation), pad


class Sequence1D:
    """The layout of a 1-D convolution's (batch, steps, channels) or (batch, channels, steps)
    input, for Conv2D's shape checks: Conv1D and Conv1DTranspose run on one-row images."""

    def _axes(self):
        """(channels, steps) axes of a full (batch, ...) shape."""
        return (1, 2) if self.data_format == layout.CHANNELS_FIRST else (2, 1)

    def _describe(self):
        order = ("(batch, channels, steps)" if self.data_format == layout.CHANNELS_FIRST
                 else "(batch, steps, channels)")
        return f"{order} for data_format='{self.data_format}'"


class Conv1D(Sequence1D, Conv2D):
    """Conv2D's arguments (initializers, regularizers, constraints, activation, use_bias and
    their Keras 1 names) with a 1-D kernel_size, strides and dilation_rate."""

    def __init__(self, filters=None, kernel_size=None, strides=None, padding=None,
                 data_format=None, dilation_rate=None, groups=1, activation=None, *,
                 nb_filter=None, filter_length=None, border_mode=None, subsample_length=None,
                 input_dim=None, input_length=None, **kwargs):
        cls = type(self).__name__
        filters = legacy("filters", filters, "nb_filter", nb_filter)
        kernel_size = legacy("kernel_size", kernel_size, "filter_length", filter_length)
        if filters is None or kernel_size is None:
            raise TypeError(f"{cls} needs `filters` and `kernel_size`, e.g. Conv1D(64, 3) "
                            "(Keras 1: Convolution1D(64, 3)).")
        if input_dim is not None and kwargs.get("input_shape") is None:   # Keras 1
            kwargs["input_shape"] = (input_length, positive_int("input_dim", input_dim))
        # Conv2D takes the arguments the two share (and names the layer); the 1-D ones follow
        super().__init__(filters, (1, 1), padding="valid", data_format=data_format,
                         groups=groups, activation=activation, **kwargs)
        self.kernel_size = layout.normalize_tuple(kernel_size, 1, "kernel_size", self.name)
        self.strides = layout.normalize_tuple(
            legacy("strides", strides, "subsample_length", subsample_length, 1), 1, "strides",
            self.name)
        self.dilation_rate = layout.normalize_tuple(
            dilation_rate if dilation_rate is not None else 1, 1, "dilation_rate", self.name)
        self.padding = normalize_padding1d(
            legacy("padding", padding, "border_mode", border_mode, "valid"), self.name)
        refuse_strided_dilation(self)
        self._keras1 = False                     # Keras 1's 1-D layers were channels-last
        self.input_spec = InputSpec(ndim=3)

    # -- shapes ------------------------------------------------------------------------------
    def _geometry(self, steps):
        (k,), (s,), (d,) = self.kernel_size, self.strides, self.dilation_rate
        out, pad = output_steps(steps, k, self.padding, s, d)
        if out is not None and out <= 0:
            span = (k - 1) * d + 1
            raise ValueError(
                f"Layer {self.name}: input of {steps} steps ({self._describe()}) is too short "
                f"for kernel_size {k}{'' if d == 1 else f' dilated to {span}'} with "
                f"padding='{self.padding}': the output would have {out} steps. Expected at "
                f"least {span} steps, or padding='same' or 'causal'.")
        return out, pad

    def compute_output_shape(self, input_shape):
        self._resolve_format()
        c_axis, t_axis = self._axes()
        out = [input_shape[0], None, None]
        out[c_axis], out[t_axis] = self.filters, self._geometry(input_shape[t_axis])[0]
        return tuple(out)

    # -- lowering ------------------------------------------------------------------------------
    def lower(self, g, inputs):
        (x,) = inputs
        cf = self.data_format == layout.CHANNELS_FIRST
        c, steps = x.shape if cf else x.shape[::-1]
        out, pad = self._geometry(steps)
        (k,), (s,), (d,) = self.kernel_size, self.strides, self.dilation_rate
        # (steps, C) is the 1-row image (1, steps, C); (C, steps) is (C, 1, steps). The op's
        # kernels read its geometry from the attrs, so the values keep their 1-D shapes.
        y = conv2d_op(g, x, [self.kernel, self.bias], data_format=self.data_format,
                      image=(c, 1, steps), out=(1, out), filters=self.filters, kernel=(1, k),
                      strides=(1, s), dilation=(1, d), pad=(0, pad), padding=self.padding,
                      activation=self.activation, groups=self.groups,
                      shape=(self.filters, out) if cf else (out, self.filters))
        return [y]


class Convolution1D(Conv1D):
    """Keras 1: Convolution1D(nb_filter, filter_length, border_mode=, subsample_length=), on
    (batch, steps, input_dim) sequences."""
    _name_prefix = "convolution1d"

    def __init__(self, nb_filter=None, filter_length=None, **kwargs):
        if nb_filter is not None:
            kwargs["nb_filter"] = nb_filter
        if filter_length is not None:
            kwargs["filter_length"] = filter_length
        super().__init__(**kwargs)
