import numpy as np
import pytest

import kcc
from kcc.frontend.naming import to_snake_case
from kcc.frontend.tensor import KerasTensor
from kcc.layers import Activation, Dense, Input, InputLayer, Layer
from kcc.utils import clear_session


def test_auto_names_count_per_class():
    assert [Dense(1).name, Dense(1).name, Activation("relu").name] == \
        ["dense_1", "dense_2", "activation_1"]
    assert Input(shape=(3,)).name == "input_1"
    assert Input(shape=(3,))._keras_history[0].name == "input_2"


def test_user_names_are_used_as_is_and_do_not_count():
    assert Dense(1, name="aux_output").name == "aux_output"
    assert Dense(1).name == "dense_1"
    assert Input(shape=(5,), name="aux_input")._keras_history[0].name == "aux_input"


def test_clear_session_restarts_names():
    Dense(1), Dense(1)
    clear_session()
    assert Dense(1).name == "dense_1"


def test_invalid_names():
    with pytest.raises(ValueError, match="name"):
        Dense(1, name="a/b")
    with pytest.raises(ValueError, match="name"):
        Dense(1, name="")


@pytest.mark.parametrize("cls, prefix", [
    ("Dense", "dense"), ("LSTM", "lstm"), ("MaxPooling2D", "max_pooling2d"),
    ("Conv2D", "conv2d"), ("Convolution2D", "convolution2d"), ("SimpleRNN", "simple_rnn"),
    ("TimeDistributed", "time_distributed"), ("Conv2DTranspose", "conv2d_transpose"),
    ("PReLU", "p_re_lu"), ("BatchNormalization", "batch_normalization")])
def test_snake_case(cls, prefix):
    assert to_snake_case(cls) == prefix


def test_custom_layer_class_gets_its_own_prefix():
    class MyFancyLayer(Layer):
        pass
    assert MyFancyLayer().name == "my_fancy_layer_1"


def test_tensor_repr_and_identity():
    x = Input(shape=(784,))
    y = Dense(64)(x)
    assert repr(y) == "<KerasTensor shape=(None, 64), dtype=float32, name=dense_1>"
    assert (y == y) is True
    assert (y == x) is False
    assert len({x, y, x}) == 2          # hashable by identity
    assert y.ndim == 2 and y._keras_shape == (None, 64)


def test_input_shapes_and_dtypes():
    assert Input(shape=(784,)).shape == (None, 784)
    assert Input(shape=[20, 784]).shape == (None, 20, 784)
    assert Input(batch_shape=(32, 10)).shape == (32, 10)
    assert Input(shape=(3,), batch_size=8).shape == (8, 3)
    assert Input(shape=(100,), dtype="int32").dtype == "int32"
    for alias, want in [("float", "float32"), ("int", "int32"), (np.float32, "float32"),
                        (np.dtype("int32"), "int32"), (float, "float32")]:
        assert Input(shape=(1,), dtype=alias).dtype == want


@pytest.mark.parametrize("kwargs, message", [
    ({"shape": 784}, r"Did you mean shape=\(784,\)"),
    ({"shape": (0,)}, "positive integers"),
    ({"shape": (-3, 2)}, "positive integers"),
    ({"shape": (None, 10)}, "only the batch axis may be None"),
    ({"shape": (2.5,)}, "positive integers"),
    ({}, "shape"),
    ({"shape": (3,), "batch_shape": (None, 3)}, "not both"),
    ({"shape": (3,), "dtype": "float64"}, "'float32', 'int32'"),
    ({"shape": (3,), "dtype": "string"}, "'float32', 'int32'"),
])
def test_input_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Input(**kwargs)


def test_input_layer_keras1_spelling():
    layer = InputLayer(input_shape=(5,), input_dtype="int32", name="ids")
    assert layer.output.shape == (None, 5) and layer.output.dtype == "int32"
    assert layer.input is layer.output and layer.input_shape == (None, 5)
    with pytest.raises(TypeError, match="InputLayer"):
        layer(Input(shape=(5,)))


def test_hand_made_tensor_cannot_feed_a_layer():
    with pytest.raises(ValueError, match="Input()"):
        Dense(2)(KerasTensor((None, 3)))


def test_package_reexports():
    assert kcc.layers.Dense is Dense
    assert kcc.models.Model is kcc.frontend.Model
    assert kcc.backend.floatx() == "float32"
