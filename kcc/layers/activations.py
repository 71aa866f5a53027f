"""Keras 3's activation layers (keras/src/layers/activations/): ReLU, LeakyReLU, ELU, Softmax,
and core's Identity. Each lowers onto the Activation op: to a named activation where Keras's
arguments give one (ReLU() is 'relu', ReLU(max_value=6) 'relu6', ELU() 'elu'), else to the
activation with its constants in the op's attrs["params"] (kcc/ops/activations.h's ReluWith,
LeakyReluWith, EluWith), which runs as its own op rather than fused into a Dense."""
import numbers
import warnings

from kcc.frontend.layer import Layer
from kcc.frontend.mask import refuse


def _number(layer, arg, value, allow_none=False, at_least=None):
    """Keras's checks on a layer's constant: a real number (None where allowed), not below
    `at_least` (Keras's "cannot be None or a negative value" wording)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
            at_least is not None and value < at_least):
        raise ValueError(f"{arg} of a {type(layer).__name__} layer cannot be None or a negative "
                         f"value. Received: {arg}={value!r}")
    return float(value)


class _Elementwise(Layer):
    """A layer that applies one activation to its input: same shape out."""

    supports_masking = True     # as Keras 3: the mask passes through

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def lower(self, g, inputs):
        (x,) = inputs
        name, params = self._activation()
        attrs = {"activation": name} if params is None else {"activation": name, "params": params}
        return [g.op("activation", [x], x.shape, attrs=attrs)]


class ReLU(_Elementwise):
    """Keras 3's relu(x, negative_slope, max_value, threshold): x above the threshold (at most
    max_value), negative_slope (x - threshold) below it."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and _number(self, "max_value", max_value) < 0.0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. "
                             f"Received: max_value={max_value}")
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope = _number(self, "negative_slope", negative_slope, at_least=0.0)
        self.threshold = _number(self, "threshold", threshold, at_least=0.0)

    def _activation(self):
        # Keras's own dispatch: leaky_relu when only the slope is set, relu6 for max_value 6
        m, s, t = self.max_value, self.negative_slope, self.threshold
        if s == 0.0 and t == 0.0 and m is None:
            return "relu", None
        if s == 0.0 and t == 0.0 and m == 6.0:
            return "relu6", None
        if s != 0.0 and m is None and t == 0.0:
            return "leaky_relu", {"negative_slope": s}
        return "relu", {"negative_slope": s, "max_value": m, "threshold": t}

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope x below (Keras 1/2's `alpha`, as Keras 3 still reads it)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.")
        super().__init__(**kwargs)
        if negative_slope is None or isinstance(negative_slope, bool) or not isinstance(
                negative_slope, numbers.Real) or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or "
                             "negative value. Expected a float. "
                             f"Received: negative_slope={negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def _activation(self):
        return "leaky_relu", {"negative_slope": self.negative_slope}

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """alpha (e^x - 1) for x <= 0, x above."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise ValueError(f"alpha of an ELU layer must be a number. Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def _activation(self):
        return ("elu", None) if self.alpha == 1.0 else ("elu", {"alpha": self.alpha})

    def get_config(self):   # Keras 3's ELU leaves alpha out of its config; kcc keeps it
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_Elementwise):
    """softmax over the last axis (kcc's row activation); any other axis is refused."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        rank = len(input_shape)
        axes = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
        ok = (len(axes) == 1 and isinstance(axes[0], numbers.Integral)
              and not isinstance(axes[0], bool) and axes[0] in (-1, rank - 1) and rank > 1)
        if not ok:
            raise ValueError(f"Layer {self.name} (Softmax): kcc computes softmax over the last "
                             f"axis only (axis=-1, or {rank - 1} for an input of shape "
                             f"{tuple(input_shape)}). Received: axis={self.axis!r}")

    def _activation(self):
        return "softmax", None

    _uses_mask = True

    def compute_mask(self, inputs, previous_mask):
        if previous_mask is not None:   # Keras 3 adds a large negative number where it is 0
            refuse(self, "to leave the masked positions out of the softmax")
        return None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Identity(Layer):
    """Its input, unchanged (a view: no op, no copy)."""

    supports_masking = True     # as Keras 3: the mask passes through

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def lower(self, g, inputs):
        (x,) = inputs
        return [g.view(x, x.shape)]
