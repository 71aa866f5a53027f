"""Every activation name Keras 3 accepts: compiled by kcc with Keras's numbers, or refused
by name.

kcc compiled eight names and refused the rest of Keras's ('relu6', 'selu', 'leaky_relu', ...)
with an error that named neither the layer nor the argument. The element-wise ones whose
derivative the output determines are now compiled (csrc/include/kcc/ops/activations.h);
each is checked here forward against Keras 3 (torch backend, when installed) and the numpy
reference, backward against central differences, and inside a recurrent cell. The others
(gelu, silu, ...) are errors naming the layer, the argument and the names kcc compiles.
"""
import os

import numpy as np
import numerics_ref as ref
import pytest

from kcc import activations
from kcc.layers import GRU, LSTM, Activation, Conv2D, Dense, Input
from kcc.models import Model

NEW = ("celu", "relu6", "selu", "softsign", "exponential", "leaky_relu", "hard_tanh",
       "log_sigmoid", "sparse_plus", "squareplus", "sparse_sigmoid", "soft_shrink",
       "hard_shrink")
NOT_COMPILED = ("gelu", "silu", "swish", "mish", "hard_silu", "hard_swish", "tanh_shrink",
                "log_softmax", "sparsemax", "glu")
# inputs on both sides of every breakpoint (+-0.5, +-1, 0, 6) and in the tails
X = np.concatenate([np.linspace(-8, 8, 161), [-40.0, -1.0, -0.5, 0.5, 1.0, 6.0, 40.0]])
X = X.astype(np.float32).reshape(-1, 8)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def test_names():
    assert set(NEW) <= set(activations.NAMES)
    assert not set(NOT_COMPILED) & set(activations.NAMES)


@pytest.mark.parametrize("name", NEW)
def test_compiled_forward_matches_keras_and_reference(name):
    inp = Input(shape=(8,))
    model = Model(inp, Activation(name)(inp))
    got = model.predict(X, verbose=0)
    want = activations.reference(name)(X.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    keras = _keras()
    keras_y = np.asarray(getattr(keras.activations, name)(X))
    np.testing.assert_allclose(got, keras_y, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(want, keras_y, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", NEW)
def test_gradients_match_finite_differences(name):
    """5 -> Dense(4, name) -> Dense(3) with mse: the native gradients of every weight (the
    first Dense's go through the activation's derivative) against central differences."""
    rng = np.random.default_rng(7)
    inp = Input(shape=(5,))
    out = Dense(3, name="head")(Dense(4, activation=name, name="hidden")(inp))
    model = Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    ref.randomize(model, rng, scale=2.0)
    x = rng.normal(size=(7, 5)).astype(np.float32)
    y = rng.normal(size=(7, 3)).astype(np.float32)

    def forward(p):
        return [ref.dense(p, "head", ref.dense(p, "hidden", x, name))]

    ref.check_gradients(model, x, y, forward, ["mse"], what=name)


def test_in_a_recurrent_cell_and_a_conv():
    """The cell and conv templates take the same activation structs."""
    keras = _keras()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)
    for make in (lambda m: m.LSTM(4, activation="softsign", recurrent_activation="hard_tanh",
                                  return_sequences=True),
                 lambda m: m.GRU(4, activation="selu", recurrent_activation="sparse_sigmoid")):
        import kcc.layers
        layer, k_layer = make(kcc.layers), make(keras.layers)
        inp, k_inp = Input(shape=(5, 3)), keras.Input((5, 3))
        model, k_model = Model(inp, layer(inp)), keras.Model(k_inp, k_layer(k_inp))
        layer.set_weights(k_layer.get_weights())
        np.testing.assert_allclose(model.predict(x, verbose=0), k_model.predict(x, verbose=0),
                                   rtol=1e-4, atol=1e-5)
    img = rng.normal(size=(2, 6, 6, 2)).astype(np.float32)
    conv, k_conv = Conv2D(3, 3, activation="relu6"), keras.layers.Conv2D(3, 3, activation="relu6")
    inp, k_inp = Input(shape=(6, 6, 2)), keras.Input((6, 6, 2))
    model, k_model = Model(inp, conv(inp)), keras.Model(k_inp, k_conv(k_inp))
    conv.set_weights([w * 4 for w in k_conv.get_weights()])     # reach the clip at 6
    k_conv.set_weights(conv.get_weights())
    np.testing.assert_allclose(model.predict(img, verbose=0), k_model.predict(img, verbose=0),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NOT_COMPILED)
def test_the_others_are_errors_naming_layer_and_argument(name):
    with pytest.raises(ValueError, match=rf"Layer hidden \(Dense\): `activation`: .*'{name}' "
                                         r"is not supported by kcc yet.*relu6"):
        Dense(3, activation=name, name="hidden")
    with pytest.raises(ValueError, match=rf"Layer lstm \(LSTM\): `recurrent_activation`"):
        LSTM(3, recurrent_activation=name, name="lstm")
    with pytest.raises(ValueError, match=r"Layer act \(Activation\): .*Unknown activation: 'foo'"):
        Activation("foo", name="act")
    with pytest.raises(ValueError, match=r"Layer gru \(GRU\): `activation`='softmax' is not "
                                         "supported in a recurrent cell"):
        GRU(3, activation="softmax", name="gru")
