"""Dropout: while training, zeroes a fraction `rate` of the inputs and scales the rest by
1 / (1 - rate); at inference it is the identity (the compiled code does both).

`noise_shape` (Keras: the full shape, batch included; None means the input's size) shares
one mask value along the axes where it is 1: the op maps each element to its mask element
by zeroing those coordinates (attrs `shared`, `shared_rows`) before kcc/ops/dropout.h draws
it, so forward, backward, threads and CUDA all see one mask. SpatialDropout1D/2D are
Dropout with a noise shape that keeps or drops whole channels.
"""
import numbers

from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.layers import image_layout as il
from kcc.layers.args import legacy
from kcc.layers.pooling import ImageLayer


def check_rate(owner, name, rate):
    """A dropout rate in [0, 1), or a ValueError naming `owner` and the argument."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"{owner}: received an invalid value for `{name}`, expected a float "
                         f"in the range [0, 1). Received: {name}={rate!r}")
    return float(rate)


def _noise_shape(noise_shape):
    """Keras's validation: None, or a sequence of positive ints and Nones, as a tuple."""
    if noise_shape is None:
        return None
    try:
        shape = () if isinstance(noise_shape, str) else tuple(noise_shape)
    except TypeError:
        shape = ()
    if not shape or any(d is not None and (isinstance(d, bool) or not isinstance(
            d, numbers.Integral) or d <= 0) for d in shape):
        raise ValueError("Received an invalid value for `noise_shape`, expected a tuple of "
                         f"positive integers or None. Received: noise_shape={noise_shape!r}")
    return tuple(None if d is None else int(d) for d in shape)


def shared_axes(layer_name, noise_shape, input_shape):
    """(shared_rows, shared): whether all samples share one mask, and the groups of
    adjacent per-sample axes the mask is shared along, as [stride, size] of the flattened
    sample (the op's attrs). Raises if `noise_shape` does not broadcast to the input."""
    input_shape = tuple(input_shape)
    ok = len(noise_shape) == len(input_shape) and all(
        n is None or n == 1 or n == d for n, d in zip(noise_shape, input_shape))
    if not ok:
        allowed = ", ".join("None|1" if d in (None, 1) else f"None|1|{d}" for d in input_shape)
        raise ValueError(f"Layer {layer_name}: `noise_shape` must broadcast to the input "
                         f"shape {input_shape}: expected {len(input_shape)} entries "
                         f"({allowed}). Received: noise_shape={noise_shape}")
    shared, stride, previous = [], 1, False
    for k in range(len(input_shape) - 1, 0, -1):       # innermost axis first
        size = input_shape[k]
        here = noise_shape[k] == 1 and size != 1
        if here and previous:       # adjacent shared axes: one group, the inner stride
            shared[-1][1] *= size
        elif here:
            shared.append([stride, size])
        previous = here or (previous and size == 1)
        stride *= size
    return noise_shape[0] == 1, shared[::-1]


def lower_dropout(g, x, rate, seed, shared_rows=False, shared=()):
    """The `dropout` op on value `x` (Dropout's and a recurrent layer's input dropout). The
    sharing attrs are there only when a mask is shared: a plain dropout's op, and so its
    unit and cache key, are what they were before noise_shape."""
    attrs = {"rate": rate}
    if shared_rows:
        attrs["shared_rows"] = True
    if shared:
        attrs["shared"] = [list(s) for s in shared]
    if seed is not None:
        attrs["seed"] = seed
    return g.op("dropout", [x], x.shape, attrs=attrs)


class Dropout(Layer):
    supports_masking = True     # as Keras 3: the mask passes through
    def __init__(self, rate=None, noise_shape=None, seed=None, *, p=None, **kwargs):
        rate = legacy("rate", rate, "p", p)      # Keras 1: Dropout(p=0.5)
        rate = check_rate(type(self).__name__, "rate", rate)
        self.noise_shape = _noise_shape(noise_shape)
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed

    def _noise(self, input_shape):
        return self.noise_shape

    def compute_output_shape(self, input_shape):
        noise = self._noise(input_shape)
        if noise is not None:
            shared_axes(self.name, noise, input_shape)
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}

    def lower(self, g, inputs):
        (x,) = inputs
        if self.rate == 0:
            return [x]
        noise = self._noise((None,) + tuple(x.shape))
        shared = shared_axes(self.name, noise, (None,) + tuple(x.shape)) if noise else ()
        return [lower_dropout(g, x, self.rate, self.seed, *shared)]


class SpatialDropout1D(Dropout):
    """Drops whole channels of (batch, steps, channels): noise_shape (batch, 1, channels)."""

    def __init__(self, rate=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.input_spec = InputSpec(ndim=3)

    def _noise(self, input_shape):
        return (None, 1, None)

    def get_config(self):           # as Keras: no noise_shape
        config = super().get_config()
        del config["noise_shape"]
        return config


class SpatialDropout2D(ImageLayer, SpatialDropout1D):
    """Drops whole channels of images: noise_shape (batch, 1, 1, channels), or channels
    first (batch, channels, 1, 1). data_format as kcc's image layers choose it."""

    def __init__(self, rate=None, data_format=None, seed=None, *, dim_ordering=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self._init_layout(data_format, dim_ordering, False)
        self.input_spec = InputSpec(ndim=4)

    def _noise(self, input_shape):
        return (None, 1, 1, None) if self.data_format == il.CHANNELS_LAST else (None, None, 1, 1)
