"""Flatten and Reshape: shape inference and errors."""
import pytest

from kcc.layers import Flatten, Input, Reshape


def test_flatten():
    assert Flatten()(Input(shape=(1, 27, 27))).shape == (None, 729)
    assert Flatten()(Input(shape=(10,))).shape == (None, 10)
    assert Flatten()(Input(shape=(4, 5), dtype="int32")).dtype == "int32"
    assert Flatten(data_format="channels_last")(Input(shape=(2, 3))).shape == (None, 6)
    with pytest.raises(ValueError, match="data_format"):
        Flatten(data_format="NCHW")


def test_reshape():
    x = Input(shape=(12,))
    assert Reshape((3, 4))(x).shape == (None, 3, 4)
    assert Reshape((-1, 2))(x).shape == (None, 6, 2)
    assert Reshape([2, -1, 3])(x).shape == (None, 2, 2, 3)
    assert Reshape((12,))(Input(shape=(3, 4))).shape == (None, 12)


def test_reshape_element_count_must_match():
    with pytest.raises(ValueError) as e:
        Reshape((5, 2), name="r")(Input(shape=(12,)))
    assert "Layer r" in str(e.value) and "(None, 12)" in str(e.value)
    assert "(5, 2)" in str(e.value)
    with pytest.raises(ValueError, match="target_shape"):
        Reshape((5, -1))(Input(shape=(12,)))


@pytest.mark.parametrize("target", [(-1, -1), (0, 3), (-2, 6), "abc", 5])
def test_reshape_invalid_target(target):
    with pytest.raises(ValueError, match="target_shape"):
        Reshape(target)
