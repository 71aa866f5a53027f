"""DepthwiseConv2D and SeparableConv2D: convolutions whose filters each read one group of
the input channels.

DepthwiseConv2D convolves every input channel on its own with `depth_multiplier` filters:
output channel c * M + m reads channel c only. Keras 3 stores its kernel as (kh, kw, C, M),
which in memory is a Conv2D(groups=C) kernel (kh, kw, 1, C * M); so both lower to the one
`grouped_conv2d` op (kcc/layers/convolutional.py, conv2d_op with groups > 1; the sums in
kcc/ops/conv.h, grouped_*). SeparableConv2D is a depthwise conv (no bias, no activation)
then a 1x1 Conv2D over its C * M channels with the bias and activation: two ops, the second
the ordinary conv2d (direct 1x1 GEMM). Weights as Keras 3: depthwise 'kernel', 'bias';
separable 'depthwise_kernel', 'pointwise_kernel' (1, 1, C * M, filters), 'bias'.
"""
from kcc import initializers
from kcc.layers import image_layout as layout
from kcc.layers.args import positive_int, weight_rules, weight_rules_config
from kcc.layers.convolutional import Conv2D, conv2d_op


class DepthwiseConv2D(Conv2D):
    """Conv2D's arguments with `depth_multiplier` for `filters` and the depthwise_* names
    for the kernel's initializer, regularizer and constraint (Keras 3's)."""
    _kernel_name = "kernel"       # Keras 3's name of the depthwise kernel weight

    def __init__(self, kernel_size=None, strides=None, padding=None, depth_multiplier=1,
                 data_format=None, dilation_rate=None, activation=None, use_bias=True,
                 depthwise_initializer=None, bias_initializer=None, depthwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 bias_constraint=None, **kwargs):
        cls = type(self).__name__
        for name in ("kernel_initializer", "kernel_regularizer", "kernel_constraint", "groups"):
            if name in kwargs:
                raise TypeError(f"{cls} does not take `{name}`"
                                + ("" if name == "groups" else
                                   f"; its kernel's is `depthwise_{name[len('kernel_'):]}`."))
        if kernel_size is None:
            raise TypeError(f"{cls} needs `kernel_size`, e.g. {cls}((3, 3)).")
        self.depth_multiplier = positive_int("depth_multiplier", depth_multiplier)
        super().__init__(1, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         bias_constraint=bias_constraint, **kwargs)
        self.depthwise_initializer = self.kernel_initializer
        weight_rules(self, locals(), "depthwise", "bias")
        self.kernel_regularizer = self.depthwise_regularizer
        self.kernel_constraint = self.depthwise_constraint
        self.filters = None                 # C * depth_multiplier, known at build

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self._build_depthwise(channels)
        self._build_bias(input_shape, channels)

    def _build_depthwise(self, channels):
        self.groups, self.filters = channels, channels * self.depth_multiplier
        setattr(self, self._kernel_name, self.add_weight(
            self._kernel_name, tuple(self.kernel_size) + (channels, self.depth_multiplier),
            self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint))

    def compute_output_shape(self, input_shape):
        self._resolve_format()
        if self.filters is None:        # before build: C * depth_multiplier channels
            self.filters = input_shape[self._axes()[0]] * self.depth_multiplier
        return super().compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        for key in ("filters", "groups", "kernel_initializer", "kernel_regularizer",
                    "kernel_constraint"):
            config.pop(key)
        return {**config, "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                **weight_rules_config(self, "depthwise")}

    def _depthwise_op(self, g, x, bias, activation):
        c = x.shape[0 if self.data_format == layout.CHANNELS_FIRST else 2]
        return self._conv_op(g, x, [getattr(self, self._kernel_name), bias],
                             c * self.depth_multiplier, activation, groups=c)

    def lower(self, g, inputs):
        return [self._depthwise_op(g, inputs[0], self.bias, self.activation)]


class SeparableConv2D(DepthwiseConv2D):
    """Keras 3's SeparableConv2D(filters, kernel_size, ..., depth_multiplier=1, ...)."""
    _kernel_name = "depthwise_kernel"

    def __init__(self, filters=None, kernel_size=None, strides=None, padding=None,
                 data_format=None, dilation_rate=None, depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer=None, pointwise_initializer=None,
                 bias_initializer=None, depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        if filters is None or kernel_size is None:
            raise TypeError("SeparableConv2D needs `filters` and `kernel_size`, e.g. "
                            "SeparableConv2D(64, (3, 3)).")
        super().__init__(kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.filters = self.pointwise_filters = positive_int("filters", filters)
        self.pointwise_initializer = initializers.get(pointwise_initializer or "glorot_uniform")
        weight_rules(self, locals(), "depthwise", "pointwise", "bias")
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self._build_depthwise(channels)        # sets filters to C * M: the depthwise output
        self.groups, self.filters = channels, self.pointwise_filters
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self._build_bias(input_shape, channels)

    def compute_output_shape(self, input_shape):
        self.filters = self.pointwise_filters
        return Conv2D.compute_output_shape(self, input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.pointwise_filters,
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                **weight_rules_config(self, "pointwise")}

    def lower(self, g, inputs):
        d = self._depthwise_op(g, inputs[0], None, "linear")
        cf = self.data_format == layout.CHANNELS_FIRST
        c, h, w = d.shape if cf else (d.shape[2], d.shape[0], d.shape[1])
        return [conv2d_op(g, d, [self.pointwise_kernel, self.bias], data_format=self.data_format,
                          image=(c, h, w), out=(h, w), filters=self.filters, kernel=(1, 1),
                          strides=(1, 1), dilation=(1, 1), pad=(0, 0), padding="valid",
                          activation=self.activation)]
