import numpy as np
import pytest

from kcc.frontend.variable import ALIGNMENT, aligned_empty
from kcc.layers import Dense, Input


def _dense(units=64, in_dim=784):
    layer = Dense(units)
    layer(Input(shape=(in_dim,)))
    return layer


@pytest.mark.parametrize("shape", [(), (1,), (3,), (7, 5), (784, 64), (2, 3, 5)])
def test_aligned_buffers(shape):
    a = aligned_empty(shape)
    assert a.shape == shape and a.dtype == np.float32
    assert a.flags.c_contiguous and a.ctypes.data % ALIGNMENT == 0


def test_variable_attributes():
    layer = _dense()
    k, b = layer.weights
    assert (k.name, k.path, k.shape, k.trainable) == ("kernel", "dense_1/kernel", (784, 64), True)
    assert (b.name, b.path, b.shape) == ("bias", "dense_1/bias", (64,))
    for v in (k, b):
        assert v.value.dtype == np.float32 and v.value.flags.c_contiguous
        assert v.data_ptr % 64 == 0
    assert k.size == 784 * 64
    assert repr(k) == "<Variable path=dense_1/kernel, shape=(784, 64), dtype=float32>"


def test_assign_copies_in_place_and_numpy_copies():
    k = _dense(3, 2).kernel
    ptr, buf = k.data_ptr, k.value
    k.assign(np.arange(6, dtype=np.float64).reshape(2, 3))
    assert k.value is buf and k.data_ptr == ptr
    np.testing.assert_array_equal(k.value, np.arange(6).reshape(2, 3))
    snapshot = k.numpy()
    snapshot[:] = -1
    assert k.value[0, 0] == 0


def test_assign_shape_error_names_layer_and_weight():
    k = _dense().kernel
    before = k.numpy()
    with pytest.raises(ValueError) as e:
        k.assign(np.zeros((10, 3)))
    assert str(e.value) == ("Layer 'dense_1' weight 'kernel' expects shape (784, 64), "
                            "received (10, 3)")
    np.testing.assert_array_equal(k.value, before)


def test_assign_rejects_non_numeric():
    with pytest.raises(ValueError, match="numeric"):
        _dense(2, 1).bias.assign(np.array(["a", "b"]))


def test_layer_trainable_freezes_its_variables():
    layer = _dense(2, 2)
    layer.trainable = False
    assert [v.trainable for v in layer.weights] == [False, False]
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    layer.trainable = True
    assert len(layer.trainable_weights) == 2
