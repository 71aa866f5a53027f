"""Integer (int32) tensors go to an Embedding, or nowhere:
a layer that computes in float32 refuses them by name (they failed as a C++ compile
error), and a model whose output is still int32 is refused (it returned the ids' bits read
as floats)."""
import numpy as np
import pytest

from kcc.layers import (LSTM, Conv2D, Dense, Embedding, Flatten, GlobalAveragePooling2D, Input,
                        MaxPooling2D, Reshape, TimeDistributed)
from kcc.models import Model


@pytest.mark.parametrize("layer,shape", [(lambda: Dense(2), (4,)), (lambda: LSTM(2), (3, 4)),
                                         (lambda: Conv2D(2, (2, 2)), (4, 4, 1)),
                                         (lambda: MaxPooling2D(), (4, 4, 1)),
                                         (lambda: GlobalAveragePooling2D(), (4, 4, 1))])
def test_a_float_layer_refuses_int_inputs(layer, shape):
    x = Input(shape=shape, dtype="int32", name="counts")
    lay = layer()
    with pytest.raises(ValueError, match=rf"Input 0 of layer {lay.name} \(\w+\) is int32 \(tensor "
                                         rf"counts\), but the layer computes in float32.*declare "
                                         rf"the Input as float32"):
        lay(x)


def test_ids_reach_an_embedding_directly_or_time_distributed():
    ids = Input(shape=(3,), dtype="int32")
    model = Model(ids, Embedding(10, 2, name="emb")(ids))
    x = (np.arange(6, dtype=np.int32).reshape(2, 3) * 7) % 10
    np.testing.assert_array_equal(model.predict(x), model.get_layer("emb").get_weights()[0][x])
    # TimeDistributed(Embedding) on (None, T, k) ids: the same lookup, range-checked ids
    seq = Input(shape=(4, 3), dtype="int32")
    emb = Embedding(10, 2)
    td = Model(seq, TimeDistributed(emb)(seq))
    xs = (np.arange(24, dtype=np.int32).reshape(2, 4, 3) * 3) % 10
    np.testing.assert_array_equal(td.predict(xs), emb.get_weights()[0][xs])
    with pytest.raises(ValueError, match=r"input_dim=10.*received ids from 0 to 10"):
        td.predict(np.full((1, 4, 3), 10, np.int32) * (np.arange(12).reshape(1, 4, 3) > 0))
    # a view of the ids is allowed as a tensor, and refused by the Embedding rule, by name
    flat = Input(shape=(2, 3), dtype="int32")
    with pytest.raises(ValueError, match=r"Layer emb2 reads integer ids, which must come straight "
                                         r"from an Input"):
        Model(flat, Embedding(10, 2, name="emb2")(Reshape((6,))(flat))).predict(np.ones((1, 2, 3), np.int32))


def test_a_model_whose_output_is_int32_is_refused():
    ids = Input(shape=(4,), dtype="int32", name="ids")
    model = Model(ids, Flatten()(ids))
    with pytest.raises(ValueError, match=r"Output 0 of model '\w+' \(\w+\) is int32.*output float32"):
        model.predict(np.ones((2, 4), np.int32))
    with pytest.raises(ValueError, match="is int32"):
        model.compile("sgd", "mse")
