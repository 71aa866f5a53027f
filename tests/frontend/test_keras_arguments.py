"""Arguments copied from the Keras 3 documentation: each works as in Keras or is an error
naming the layer (or class), the argument and the value.

Each case here was a raw TypeError or a silent difference before: Input(ragged=False) and
Input(optional=False) (Keras's defaults, spelled out), dot(inputs) without axes (Keras 3:
axes=-1), lora_rank/lora_alpha/quantization_config=None (Dense's and Embedding's
defaults), autocast, the 'identity' initializer and Keras 3's class aliases,
VarianceScaling(distribution='normal'); refusals that did not say the value given.
"""
import numpy as np
import pytest

from kcc import initializers
from kcc.layers import Dense, Dropout, Embedding, Input, InputLayer, dot
from kcc.models import Model


def test_input_spells_out_keras_defaults_and_refuses_the_rest_by_name():
    x = Input(shape=(3,), ragged=False, optional=False, sparse=None)
    assert x.shape == (None, 3)
    assert InputLayer(shape=(3,), input_tensor=None, optional=False, ragged=False).built
    with pytest.raises(ValueError, match=r"Input 'q': kcc does not support ragged inputs; "
                                         r"received ragged=True"):
        Input(shape=(3,), ragged=True, name="q")
    with pytest.raises(ValueError, match=r"does not support optional inputs; .*optional=True"):
        Input(shape=(3,), optional=True)
    with pytest.raises(ValueError, match=r"input_tensor"):
        InputLayer(shape=(3,), input_tensor=x)


def test_dot_function_defaults_to_the_last_axis():
    a, b = Input(shape=(4,)), Input(shape=(4,))
    model = Model([a, b], dot([a, b]))
    x, y = np.arange(8, dtype=np.float32).reshape(2, 4), np.ones((2, 4), np.float32)
    np.testing.assert_allclose(model.predict([x, y], verbose=0), [[6.0], [22.0]])


def test_keras3_none_defaults_and_autocast_are_accepted():
    Dense(3, lora_rank=None, lora_alpha=None, quantization_config=None, autocast=False)
    Embedding(5, 2, lora_rank=None, lora_alpha=None, quantization_config=None)


@pytest.mark.parametrize("make, message", [
    (lambda: Dense(3, lora_rank=4), r"Dense: argument\(s\) lora_rank=4 are not supported"),
    (lambda: Embedding(5, 2, lora_alpha=8.0), r"Embedding: .*lora_alpha=8.0 are not supported"),
    (lambda: Dense(3, kernel_regularizer="orthogonal_regularizer", name="dor"),
     r"Layer dor: `kernel_regularizer` is OrthogonalRegularizer, which kcc does not compile"),
    (lambda: Dropout(0.5, noise_shape="ab"), r"invalid value for `noise_shape`.*noise_shape='ab'"),
    (lambda: Dense(3, dtype="float64", name="d64"), r"Layer d64: .*float32; received "
                                                    r"dtype='float64'"),
    (lambda: Dense(3, dtype="mixed_float16", name="mp"), r"Layer mp: .*'mixed_float16'"),
])
def test_refusals_name_the_value(make, message):
    with pytest.raises((ValueError, NotImplementedError), match=message):
        make()


def test_identity_initializer_and_keras3_aliases():
    inp = Input(shape=(3,))
    layer = Dense(3, kernel_initializer="identity")
    Model(inp, layer(inp))
    np.testing.assert_array_equal(layer.get_weights()[0], np.eye(3))
    np.testing.assert_array_equal(initializers.get("Identity")((2, 3)), np.eye(2, 3))
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((2, 2)), 2 * np.eye(2))
    assert isinstance(initializers.get("IdentityInitializer"), initializers.Identity)
    assert isinstance(initializers.get("OrthogonalInitializer"), initializers.Orthogonal)
    assert initializers.serialize("identity") == {"class_name": "Identity",
                                                   "config": {"gain": 1.0}}
    with pytest.raises(ValueError, match="only be used for 2D matrices"):
        initializers.Identity()((3, 3, 1, 2))


def test_variance_scaling_normal_is_truncated_normal_as_in_keras():
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    assert initializers.VarianceScaling(distribution="Uniform").distribution == "uniform"
    with pytest.raises(ValueError, match="scale=0"):
        initializers.VarianceScaling(scale=0)
