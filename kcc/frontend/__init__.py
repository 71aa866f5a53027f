"""The symbolic frontend: tensors, nodes, weights, layers and functional models."""
from kcc.frontend.errors import MultipleNodesError
from kcc.frontend.functional import Model
from kcc.frontend.input_layer import Input, InputLayer
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.frontend.node import Node
from kcc.frontend.tensor import KerasTensor
from kcc.frontend.variable import Variable

__all__ = ["Input", "InputLayer", "InputSpec", "KerasTensor", "Layer", "Model",
           "MultipleNodesError", "Node", "Variable"]
