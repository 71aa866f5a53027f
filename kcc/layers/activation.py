"""Activation: applies a named activation function elementwise."""
from kcc import activations
from kcc.frontend.layer import Layer


class Activation(Layer):
    supports_masking = True     # as Keras 3: the mask passes through
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation, f"Layer {self.name} (Activation)")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}

    def lower(self, g, inputs):
        (x,) = inputs
        return [g.op("activation", [x], x.shape, attrs={"activation": self.activation})]
