"""Activation and Dropout: shape-preserving layers."""
import pytest

from kcc import activations
from kcc.layers import Activation, Dropout, Input


def test_activation_shapes_and_names():
    y = Activation("relu")(Input(shape=(3, 4)))
    assert y.shape == (None, 3, 4) and y.dtype == "float32"
    assert Activation(activations.sigmoid).activation == "sigmoid"
    assert Activation(None).activation == "linear"
    assert Activation("elu").get_config()["activation"] == "elu"


def test_activation_unknown_name():
    with pytest.raises(ValueError, match="valid names are: linear, relu"):
        Activation("sparsemax")


def test_dropout_shapes_and_dtype():
    assert Dropout(0.5)(Input(shape=(7,))).shape == (None, 7)
    # it computes on an int32 input's values as floats (tests/frontend/test_int_inputs.py)
    assert Dropout(0.5)(Input(shape=(7,), dtype="int32")).dtype == "float32"
    assert Dropout(p=0.2).rate == 0.2                         # Keras 1 name
    assert Dropout(0).rate == 0.0
    layer = Dropout(0.3, seed=1)
    layer(Input(shape=(2,)))
    assert layer.weights == [] and layer.count_params() == 0


@pytest.mark.parametrize("rate", [1, 1.5, -0.1, "0.5", None, True])
def test_dropout_invalid_rate(rate):
    with pytest.raises(ValueError, match=r"expected a float in the range \[0, 1\)"):
        Dropout(rate)


def test_dropout_noise_shape_keeps_the_shape():
    assert Dropout(0.5, noise_shape=(None, 1, 1))(Input(shape=(3, 4))).shape == (None, 3, 4)
