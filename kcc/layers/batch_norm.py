"""BatchNormalization: each channel (the `axis` of the input) normalized by statistics over
every other axis (the batch and, for images, the spatial axes), then scaled by gamma and
shifted by beta, as Keras 3's:

    training:  y = (x - mean_B) / sqrt(var_B + epsilon) * gamma + beta   (var_B biased)
               moving = moving * momentum + batch statistic * (1 - momentum)
    inference: y = (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta

Training mode is fit's forward of a trainable layer; a frozen one (trainable=False, or in a
frozen model) runs in inference mode there too, as in Keras 3. The batch statistics span the
whole batch, so the CPU runtime runs a training step of such a model in one call instead of
splitting the batch over its threads (the op's `batch_stats`, kcc/ops/batch_norm.h).
"""
import numbers
from math import prod

from kcc import initializers
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.frontend.mask import refuse
from kcc.layers.args import weight_rules, weight_rules_config

# Keras 3 arguments kcc does not compile, with the value that means "off".
_REFUSED = {"synchronized": False, "renorm": False, "renorm_clipping": None,
            "renorm_momentum": 0.99}


class BatchNormalization(Layer):
    supports_masking = True
    _uses_mask = True

    def compute_mask(self, inputs, previous_mask):
        if previous_mask is not None:
            refuse(self, "to weigh the batch statistics")
        return None

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, *, activity_regularizer=None,
                 **kwargs):
        refused = {k: kwargs.pop(k) for k in list(kwargs) if k in _REFUSED}
        refused["synchronized"] = synchronized
        super().__init__(**kwargs)
        for arg, value in refused.items():
            if value != _REFUSED[arg]:
                raise NotImplementedError(
                    f"Layer {self.name} (BatchNormalization): kcc does not support "
                    f"`{arg}`; expected {arg}={_REFUSED[arg]!r} (leave it out). "
                    f"Received: {arg}={value!r}")
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"Layer {self.name} (BatchNormalization): expected an int for the "
                            f"argument 'axis' (the channels axis). Received: axis={axis!r}")
        self.axis = int(axis)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        weight_rules(self, locals(), "beta", "gamma")
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def _channel_axis(self, input_shape):
        """The channels axis as a positive index, or a ValueError naming the layer."""
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"Layer {self.name} (BatchNormalization): axis {self.axis} is not a "
                             f"channels axis of an input of shape {tuple(input_shape)} (the batch "
                             f"axis 0 is never one): expected one of 1..{rank - 1} or -1..-"
                             f"{rank - 1}. Received: axis={self.axis}")
        axis = self.axis % rank
        if input_shape[axis] is None:
            raise ValueError(f"Layer {self.name} (BatchNormalization): axis {self.axis} of the "
                             f"input {tuple(input_shape)} needs a known size.")
        return axis

    def build(self, input_shape):
        axis = self._channel_axis(input_shape)
        shape = (input_shape[axis],)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer, trainable=False)
        self.input_spec = InputSpec(ndim=len(input_shape), axes={axis: input_shape[axis]})

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer":
                    initializers.serialize(self.moving_variance_initializer),
                **weight_rules_config(self, "beta", "gamma"), **_REFUSED}

    def lower(self, g, inputs):
        (x,) = inputs
        if self.trainable and x.fold > 1:
            # TimeDistributed folds time into the rows: the statistics would be over batch and
            # time together, where Keras 3 calls the layer once per timestep
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) is inside a TimeDistributed: Keras 3 "
                "normalizes each timestep over the batch on its own (and moves the moving "
                "statistics once per timestep), which kcc does not do yet. Apply "
                "BatchNormalization to the (batch, timesteps, ...) tensor itself for statistics "
                "over batch and time, or freeze it (trainable=False) to use its moving statistics.")
        axis = self.axis % (len(x.shape) + 1) - 1          # in the per-sample shape
        out = g.op("batch_norm", [x], x.shape,
                   weights=[self.gamma, self.beta, self.moving_mean, self.moving_variance],
                   attrs={"outer": prod(x.shape[:axis]), "channels": x.shape[axis],
                          "inner": prod(x.shape[axis + 1:]), "epsilon": self.epsilon,
                          "momentum": self.momentum, "batch_stats": self.trainable})
        return [out]
