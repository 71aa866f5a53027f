"""LayerNormalization: each sample's values over `axis` (the trailing axes) normalized to mean
0 and variance 1, then scaled by gamma and shifted by beta, as Keras 3's:

    y = (x - mean) / sqrt(var + epsilon) * gamma + beta    (var: biased, over `axis`)

`rms_scaling=True` (deprecated in Keras 3, kept for its models) scales x itself by
1 / sqrt(var + epsilon) and gamma, with no beta. The normalized axes must be the input's
last ones: they form one contiguous row per leading index, which kcc/ops/normalization.h
normalizes.
"""
import numbers
import warnings
from math import prod

from kcc import initializers
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.layers.args import weight_rules, weight_rules_config


def _axis(value):
    """Keras's `axis`: an int, or a list of ints (a tuple becomes a list)."""
    ints = list(value) if isinstance(value, (list, tuple)) else [value]
    if not ints or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in ints):
        raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', "
                        f"but received: {value!r}")
    return [int(a) for a in value] if isinstance(value, (list, tuple)) else int(value)


class LayerNormalization(Layer):
    supports_masking = True     # as Keras 3: the mask passes through
    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, *, rms_scaling=False,
                 activity_regularizer=None, **kwargs):
        # rms_scaling is keyword-only, as Keras 3 takes it (from **kwargs)
        if rms_scaling:
            warnings.warn("You passed `rms_scaling=True`, which is deprecated. This argument "
                          "incorrectly scales the input by the variance, not the root mean "
                          "square. To correctly use RMS Normalization, please use "
                          "`keras.layers.RMSNormalization` instead.")
        super().__init__(**kwargs)
        self.axis = _axis(axis)
        self.epsilon = float(epsilon)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        weight_rules(self, locals(), "beta", "gamma")
        self.gamma = self.beta = None

    def _row_axes(self, input_shape):
        """The normalized axes as positive indices (the last len(axis) axes of the input),
        or a ValueError naming the layer, what it expects and what it was given."""
        rank, axes = len(input_shape), self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"Layer {self.name} (LayerNormalization): axis {a} is out of "
                                 f"bounds for input shape {tuple(input_shape)}. "
                                 f"Received: axis={self.axis}")
        resolved = [a % rank for a in sorted(axes)]     # Keras sorts the axes as given
        trailing = list(range(rank - len(axes), rank))
        if resolved != trailing or 0 in resolved:
            raise ValueError(
                f"Layer {self.name} (LayerNormalization) normalizes over the last axes of its "
                f"input, in order, and never the batch axis: expected axis=-1 or a list of the "
                f"trailing axes such as [-2, -1] (for an input of shape {tuple(input_shape)}: "
                f"{self._examples(rank)}). Received: axis={self.axis}")
        if any(input_shape[a] is None for a in resolved):
            raise ValueError(f"Layer {self.name} (LayerNormalization): the normalized axes "
                             f"{self.axis} need known sizes; received an input of shape "
                             f"{tuple(input_shape)}.")
        return resolved

    @staticmethod
    def _examples(rank):
        ks = range(1, rank)
        return ", ".join(str(-1) if k == 1 else str(list(range(-k, 0))) for k in ks) or "none"

    def build(self, input_shape):
        axes = self._row_axes(input_shape)
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        shape = tuple(input_shape[a] for a in axes)
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        # later calls: the same normalized sizes (at any rank when the axes count from the end)
        sizes = {a - len(input_shape): input_shape[a] for a in axes}
        self.input_spec = (InputSpec(min_ndim=len(axes) + 1, axes=sizes)
                           if all(a < 0 for a in self.axis) else
                           InputSpec(ndim=len(input_shape), axes=sizes))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                **weight_rules_config(self, "beta", "gamma")}

    def lower(self, g, inputs):
        (x,) = inputs
        row = prod(x.shape[len(x.shape) - len(self.axis):])
        out = g.op("layer_norm", [x], x.shape, weights=[self.gamma, self.beta],
                   attrs={"row": row, "rows": prod(x.shape) // row, "epsilon": self.epsilon,
                          "rms_scaling": self.rms_scaling})
        return [out]
