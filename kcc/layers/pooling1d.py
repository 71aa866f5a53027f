"""Pooling along the steps of a sequence: MaxPooling1D, AveragePooling1D and their global
forms, on (batch, steps, channels) inputs (channels_last, the default) or (batch, channels,
steps).

A sequence is a one-row image ((steps, C) is (1, steps, C) in memory, (C, steps) is
(C, 1, steps)), so every form lowers to the images' `pool2d` op (kcc/layers/pooling.py,
_pool_op) with a 1 x pool_size window: its C++ and CUDA kernels and the export serve the
1-D layers as they are. The layout follows Conv1D's rule (kcc/layers/conv1d.py): explicit
`data_format`, then the input tensor's, then the global default; Keras 1's `border_mode`
does not make a 1-D layer channels-first.
"""
from kcc.frontend.mask import refuse
from kcc.layers import image_layout as il
from kcc.layers.args import legacy
from kcc.layers.pooling import ImageLayer, _pool_op

_AXES = {il.CHANNELS_LAST: "(batch, steps, channels)",
         il.CHANNELS_FIRST: "(batch, channels, steps)"}


class SequenceLayer(ImageLayer):
    """An ImageLayer whose inputs are 3D sequences."""

    def _sequence(self, sample_shape):
        """(steps, channels) of a per-sample shape, or an error naming the layer."""
        if len(sample_shape) != 2:
            raise ValueError(f"Layer {self.name} expects 3D inputs {_AXES[self.data_format]}; "
                             f"received shape {(None,) + tuple(sample_shape)}")
        if self.data_format == il.CHANNELS_LAST:
            return tuple(sample_shape)
        c, steps = sample_shape
        return steps, c

    def _layout(self, steps, c):
        """A per-sample sequence shape in this layer's layout."""
        return (steps, c) if self.data_format == il.CHANNELS_LAST else (c, steps)


class _Pooling1D(SequenceLayer):
    _kind = None

    def __init__(self, pool_size=None, strides=None, padding=None, data_format=None, *,
                 pool_length=None, stride=None, border_mode=None, **kwargs):
        super().__init__(**kwargs)
        pool_size = legacy("pool_size", pool_size, "pool_length", pool_length, 2)
        strides = legacy("strides", strides, "stride", stride)
        self.pool_size = il.normalize_tuple(pool_size, 1, "pool_size", self.name)
        self.strides = (self.pool_size if strides is None
                        else il.normalize_tuple(strides, 1, "strides", self.name))
        self.padding = il.normalize_padding(
            legacy("padding", padding, "border_mode", border_mode, "valid"), self.name)
        self._init_layout(data_format, None, keras1=False)

    def _geometry(self, sample_shape):
        """((steps, channels), output steps, zeros before the first step)."""
        steps, c = self._sequence(sample_shape)
        (k,), (s,) = self.pool_size, self.strides
        out = il.conv_output_length(steps, k, self.padding, s)
        if out <= 0:
            raise ValueError(f"Layer {self.name}: pool_size {k} is larger than the input's "
                             f"{steps} steps with padding='valid' ({self.data_format} input of "
                             f"shape {(None,) + tuple(sample_shape)}); use padding='same' or a "
                             "smaller pool_size.")
        pad = il.same_padding(steps, k, s)[0] if self.padding == "same" else 0
        return (steps, c), out, pad

    def compute_output_shape(self, input_shape):
        (_, c), out, _ = self._geometry(input_shape[1:])
        return (input_shape[0],) + self._layout(out, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}

    def lower(self, g, inputs):
        (x,) = inputs
        (steps, c), out, pad = self._geometry(x.shape)
        return [_pool_op(g, x, self._kind, self.data_format, (1, steps, c), (1, out),
                         (1,) + self.pool_size, (1,) + self.strides, (0, pad),
                         self._layout(out, c))]


class MaxPooling1D(_Pooling1D):
    """The max of each pool_size window of steps (the gradient goes to the first max of a tie)."""
    _kind = "max"


class AveragePooling1D(_Pooling1D):
    """The mean of each pool_size window; with padding='same', over its steps inside the input."""
    _kind = "avg"


class _GlobalPooling1D(SequenceLayer):
    _kind = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)
        self._image_output = self.keepdims
        self._init_layout(data_format, None, keras1=False)

    def compute_output_shape(self, input_shape):
        _, c = self._sequence(input_shape[1:])
        return (input_shape[0],) + (self._layout(1, c) if self.keepdims else (c,))

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}

    def lower(self, g, inputs):
        (x,) = inputs
        steps, c = self._sequence(x.shape)
        out = self._layout(1, c) if self.keepdims else (c,)
        return [_pool_op(g, x, self._kind, self.data_format, (1, steps, c), (1, 1), (1, steps),
                         (1, steps), (0, 0), out)]


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The max over all steps, per channel: (batch, channels)."""
    _kind = "max"


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over all steps, per channel: (batch, channels). With a Keras mask, as Keras 3:
    the mean over the kept steps (the masked_mean op)."""
    _kind = "avg"
    supports_masking = True
    _uses_mask = True

    def compute_mask(self, inputs, previous_mask):
        if previous_mask is not None and self.data_format != "channels_last":
            refuse(self, f"with data_format={self.data_format!r}")
        return None

    def lower(self, g, inputs):
        m = g.input_mask(0)
        if m is None:
            return super().lower(g, inputs)
        (x,) = inputs
        out = (1, x.shape[-1]) if self.keepdims else (x.shape[-1],)
        return [g.op("masked_mean", [x, m], out)]


# Keras's short aliases (the auto names stay max_pooling1d_1, ...).
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
