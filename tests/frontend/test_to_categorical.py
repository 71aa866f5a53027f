import numpy as np
import pytest

from kcc.utils import to_categorical


def test_one_hot_rows():
    out = to_categorical([2, 0, 1], num_classes=4)
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[[2, 0, 1]])
    assert out.dtype == np.float32
    assert to_categorical(np.array([[1], [0]])).shape == (2, 2)


def test_out_of_range_and_non_integer_ids():
    with pytest.raises(ValueError, match=r"\[0, 3\).*from 0 to 5"):
        to_categorical([0, 5], num_classes=3)
    with pytest.raises(ValueError, match="integer"):
        to_categorical([0.5])
