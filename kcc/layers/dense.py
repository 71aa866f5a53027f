"""Dense: output = activation(dot(input, kernel) + bias), on the last axis of the input."""
from kcc import activations, initializers
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.layers.args import (KERAS_DEFAULT, legacy, legacy_flag, positive_int, unsupported,
                             weight_rules, weight_rules_config)


class Dense(Layer):
    supports_masking = True     # as Keras 3: the mask passes through
    def __init__(self, units=None, activation=None, use_bias=KERAS_DEFAULT, kernel_initializer=None,
                 bias_initializer=None, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 lora_rank=None, lora_alpha=None, quantization_config=None, *,
                 output_dim=None, init=None, bias=None, input_dim=None, W_regularizer=None,
                 b_regularizer=None, W_constraint=None, b_constraint=None, **kwargs):
        # Keras 1 names: output_dim, init, bias, W_/b_ regularizers and constraints.
        units = legacy("units", units, "output_dim", output_dim)
        if units is None:
            raise TypeError("Dense needs `units`, the size of its output "
                            "(Keras 1: `output_dim`), e.g. Dense(64).")
        self.units = positive_int("units" if output_dim is None else "output_dim", units)
        self.use_bias = legacy_flag("use_bias", use_bias, "bias", bias, default=True)
        self.kernel_initializer = initializers.get(
            legacy("kernel_initializer", kernel_initializer, "init", init, "glorot_uniform"))
        self.bias_initializer = initializers.get(bias_initializer or "zeros")
        unsupported("Dense", lora_rank=lora_rank, lora_alpha=lora_alpha,
                    quantization_config=quantization_config)
        if input_dim is not None and kwargs.get("input_shape") is None:
            kwargs["input_shape"] = (positive_int("input_dim", input_dim),)
        super().__init__(**kwargs)
        self.activation = activations.get(activation, f"Layer {self.name} (Dense): `activation`")
        weight_rules(self, locals(), "kernel", "bias")
        self.input_spec = InputSpec(min_ndim=2)
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        in_dim = input_shape[-1]
        self.kernel = self.add_weight("kernel", (in_dim, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        # Any rank >= 2 is fine afterwards, as long as the last axis matches the kernel.
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_rules_config(self, "kernel", "bias")}

    def lower(self, g, inputs):
        (x,) = inputs
        out = g.op("dense", [x], tuple(x.shape[:-1]) + (self.units,),
                   weights=[self.kernel, self.bias],
                   attrs={"activation": self.activation, "units": self.units})
        return [out]
