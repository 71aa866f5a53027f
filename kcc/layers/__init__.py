"""kcc.layers: the layers of the Keras functional API (`from kcc.layers import Input, Dense`)."""
from kcc.frontend import Input, InputLayer, InputSpec, Layer
from kcc.layers.activation import Activation
from kcc.layers.dense import Dense
from kcc.layers.dropout import Dropout
from kcc.layers.reshape import Flatten, Reshape

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "InputSpec",
           "Layer", "Reshape"]
