"""use_bias is read for its truth, as Keras 3 reads it: Dense(use_bias=None) and
Conv2D(use_bias=0) have no bias (kcc took None for 'not given' and added one); Keras 1's
bias=False still works, and giving both is an error."""
import os

import numpy as np
import pytest

import kcc
from kcc.layers import Conv2D, Dense, Input
from kcc.models import Model


def test_falsy_use_bias_means_no_bias_as_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    for make, shape in (((lambda L: L.Dense(3, use_bias=None)), (4,)),
                        ((lambda L: L.Conv2D(2, 3, use_bias=0)), (5, 5, 1))):
        ours, theirs = make(kcc.layers), make(keras.layers)
        inp = Input(shape)
        m_ours = Model(inp, ours(inp))
        kin = keras.Input(shape)
        m_theirs = keras.Model(kin, theirs(kin))
        assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
        assert len(ours.get_weights()) == 1 and not ours.use_bias
        theirs.set_weights(ours.get_weights())
        x = rng.normal(size=(2,) + shape).astype(np.float32)
        np.testing.assert_allclose(m_ours.predict(x), np.asarray(m_theirs.predict(x, verbose=0)),
                                   rtol=1e-5, atol=1e-6)
    assert not Dense(3, bias=False).use_bias and Dense(3).use_bias and Conv2D(2, 3).use_bias
    assert not Dense.from_config(Dense(3, use_bias=None).get_config()).use_bias
    with pytest.raises(TypeError, match="either `use_bias` or its Keras 1 name `bias`"):
        Dense(3, use_bias=True, bias=False)
