import numpy as np
import pytest

from kcc import activations


def test_get_returns_canonical_names():
    assert activations.get(None) == "linear"
    assert activations.get("relu") == "relu"
    assert activations.get(activations.softmax) == "softmax"
    assert {"linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "softmax", "softplus",
            "elu"} <= set(activations.NAMES)          # and more: tests/layers/test_activation.py


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown activation: 'relu7'.*softplus, elu"):
        activations.get("relu7")
    with pytest.raises(ValueError, match="not a kcc activation"):
        activations.get(np.tanh)


def test_reference_values():
    x = np.array([-1000.0, -2.0, 0.0, 0.5, 4.0, 1000.0])
    np.testing.assert_allclose(activations.relu(x), [0, 0, 0, 0.5, 4, 1000])
    np.testing.assert_allclose(activations.sigmoid(x)[1:5], 1 / (1 + np.exp(-x[1:5])))
    assert activations.sigmoid(x)[0] == 0 and activations.sigmoid(x)[-1] == 1
    np.testing.assert_allclose(activations.hard_sigmoid(x),
                               [0, 1 / 6, 0.5, 3.5 / 6, 1, 1])        # relu6(x + 3) / 6
    np.testing.assert_allclose(activations.elu(x)[:3], [-1, np.expm1(-2), 0])
    np.testing.assert_allclose(activations.softplus(x)[1:5], np.log1p(np.exp(x[1:5])))
    assert activations.softplus(x)[-1] == 1000
    np.testing.assert_allclose(activations.tanh(x), np.tanh(x))
    np.testing.assert_array_equal(activations.linear(x), x)


def test_softmax_last_axis_and_stable():
    x = np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]], dtype=np.float32)
    y = activations.softmax(x)
    np.testing.assert_allclose(y, [[0.5, 0.5], [0.25, 0.75]], rtol=1e-6)
    assert y.dtype == np.float32
    assert activations.reference("softmax") is activations.softmax


def test_log_softmax_last_axis_and_exact_far_below_the_max():
    x = np.array([[1000.0, 1000.0], [0.0, np.log(3.0)], [0.0, -1000.0]], dtype=np.float32)
    y = activations.log_softmax(x)
    np.testing.assert_allclose(y, np.log([[0.5, 0.5], [0.25, 0.75], [1.0, 1.0]]) + [[0, 0], [0, 0], [0, -1000]],
                               rtol=1e-6, atol=1e-6)
    assert y.dtype == np.float32 and y[2, 1] == -1000              # log(softmax) would be -inf
    assert activations.reference("log_softmax") is activations.log_softmax
