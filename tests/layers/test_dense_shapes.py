"""Dense: Keras 1 and Keras 2/3 arguments, validation, shapes and weights."""
import numpy as np
import pytest

from kcc import initializers
from kcc.layers import Dense, Input
from kcc.utils import clear_session


def test_shapes_and_weight_order():
    clear_session()
    dense = Dense(64)
    y = dense(Input(shape=(784,)))
    assert y.shape == (None, 64) and y.dtype == "float32" and y.name == "dense_1"
    assert [(w.name, w.shape) for w in dense.weights] == [("kernel", (784, 64)), ("bias", (64,))]
    assert dense.count_params() == 50240
    assert np.all(dense.bias.value == 0)                      # bias_initializer='zeros'


def test_rank3_input_uses_the_last_axis():
    dense = Dense(10)
    assert dense(Input(shape=(20, 784))).shape == (None, 20, 10)
    assert dense.kernel.shape == (784, 10)
    assert dense(Input(shape=(784,))).shape == (None, 10)    # same kernel, other rank
    with pytest.raises(ValueError, match="axis -1 should be 784, found 783"):
        dense(Input(shape=(20, 783)))


def test_rank1_input_is_rejected():
    with pytest.raises(ValueError, match="min_ndim=2"):
        Dense(3)(Input(shape=()))


def test_keras1_spellings():
    dense = Dense(output_dim=5, init="uniform", bias=False, input_dim=3)
    assert dense.units == 5 and not dense.use_bias
    assert isinstance(dense.kernel_initializer, initializers.RandomUniform)
    assert dense._batch_input_shape == (None, 3)
    dense(Input(shape=(3,)))
    assert [w.name for w in dense.weights] == ["kernel"] and dense.bias is None


def test_keras2_spellings():
    dense = Dense(units=4, activation="tanh", use_bias=True, kernel_initializer="he_normal",
                  bias_initializer="ones", input_shape=(9,))
    assert dense.activation == "tanh" and dense._batch_input_shape == (None, 9)
    dense(Input(shape=(9,)))
    assert np.all(dense.bias.value == 1)
    assert Dense(2, "relu").activation == "relu"               # Keras 2 positional order


@pytest.mark.parametrize("kwargs, message", [
    ({"units": -3}, r"Received an invalid value for `units`, expected a positive integer. "
                    r"Received: units=-3"),
    ({"units": 0}, "units=0"),
    ({"units": 2.5}, "units=2.5"),
    ({"units": True}, "units=True"),
    ({"output_dim": -1}, "output_dim=-1"),
    ({"units": 3, "activation": "sparsemax"}, "`activation`: .*'sparsemax' is not supported"),
    ({"units": 3, "kernel_initializer": "nope"}, "Unknown initializer: 'nope'"),
    ({"units": 3, "input_dim": 0}, "input_dim=0"),
])
def test_invalid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Dense(**kwargs)


def test_missing_or_doubled_units():
    with pytest.raises(TypeError, match="Dense needs `units`"):
        Dense()
    with pytest.raises(TypeError, match="not both"):
        Dense(3, output_dim=3)
    with pytest.raises(TypeError, match="not both"):
        Dense(3, kernel_initializer="zeros", init="zeros")


def test_regularizers_kcc_cannot_compile_are_rejected_not_ignored():
    with pytest.raises(NotImplementedError, match="kernel_regularizer.*Python function"):
        Dense(3, W_regularizer=lambda w: 0.0)


def test_int_input_gives_float_output():
    # the values are read as floats, as Keras does (numbers: tests/frontend/test_int_inputs.py)
    assert Dense(2)(Input(shape=(4,), dtype="int32")).dtype == "float32"
