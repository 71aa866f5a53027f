"""Every activation name Keras 3 accepts: compiled by kcc with Keras's numbers, or refused
by name.

kcc compiled eight names and refused the rest of Keras's ('relu6', 'selu', 'leaky_relu', ...)
with an error that named neither the layer nor the argument. The element-wise ones whose
derivative the output determines are compiled (csrc/include/kcc/ops/activations.h); so are
the smooth gates whose derivative needs the input (gelu, silu/swish, mish, hard_silu/
hard_swish, tanh_shrink), for which a Dense keeps its pre-activation, an Activation reads
its input and a Conv2D is split into a linear conv and an Activation (kcc/passes/fusion.py).
Each is checked here forward against Keras 3 (torch backend, when installed) and the numpy
reference, backward against central differences, and inside a recurrent cell or a model
with every path. The others (log_softmax, sparsemax, glu) are errors naming the layer, the
argument and the names kcc compiles.
"""
import functools
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
GATES = ("gelu", "silu", "swish", "mish", "hard_silu", "hard_swish", "tanh_shrink")
NOT_COMPILED = ("log_softmax", "sparsemax", "glu")
# inputs on both sides of every breakpoint (+-0.5, +-1, 0, 6) and in the tails
X = np.concatenate([np.linspace(-8, 8, 161), [-40.0, -1.0, -0.5, 0.5, 1.0, 6.0, 40.0]])
X = X.astype(np.float32).reshape(-1, 8)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def test_names():
    assert set(NEW + GATES) <= set(activations.NAMES)
    assert not set(NOT_COMPILED) & set(activations.NAMES)
    assert activations.get("swish") == activations.get(activations.swish) == "silu"
    assert activations.get("hard_swish") == "hard_silu"
    assert activations.get(activations.gelu) == "gelu"       # Keras's default: the erf form
    assert activations.get(functools.partial(activations.gelu, approximate=True)) == "gelu_approximate"
    assert activations.get(functools.partial(activations.gelu, approximate=False)) == "gelu"


@pytest.mark.parametrize("name", NEW + GATES)
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


@pytest.mark.parametrize("name", NEW + GATES)
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


def test_gelu_approximate_is_kerass_tanh_form():
    """gelu(x, approximate=True), which a Keras model writes as a function of its own,
    by kcc's partial of its reference; forward against Keras and the reference."""
    inp = Input(shape=(8,))
    layer = Activation(functools.partial(activations.gelu, approximate=True))
    assert layer.activation == "gelu_approximate"
    got = Model(inp, layer(inp)).predict(X, verbose=0)
    want = activations.gelu(X.astype(np.float64), approximate=True)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    assert np.max(np.abs(want - activations.gelu(X.astype(np.float64)))) > 1e-4   # not the erf form
    keras = _keras()
    np.testing.assert_allclose(got, np.asarray(keras.activations.gelu(X, approximate=True)),
                               rtol=2e-6, atol=2e-6)


def _conv_valid(x, kernel, bias):
    """Keras's Conv2D, channels_last, padding='valid', stride 1, in float64."""
    kh, kw = kernel.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))   # (n, Ho, Wo, C, kh, kw)
    return np.einsum("nijcab,abcf->nijf", win, kernel) + bias


def _gates_model(m, name=None):
    """Every way a gate runs, on (3, 5) rows: an Activation reading its input (after a tanh
    Dense, so nothing folds), an Activation folded into a linear Dense (which then keeps its
    pre-activation), a Dense(activation=) called twice (shared weights, stacked calls), a
    Conv2D split into conv + Activation. `m` is kcc or keras (their layers)."""
    inp = m.layers.Input(shape=(3, 5))
    shared = m.layers.Dense(4, activation="gelu", name="shared")
    a = shared(m.layers.Activation("mish")(m.layers.Dense(4, activation="tanh", name="pre")(inp)))
    b = shared(m.layers.Activation("silu")(m.layers.Dense(4, name="lin")(inp)))
    h = m.layers.Reshape((3, 8, 1))(m.layers.concatenate([a, b]))
    h = m.layers.Conv2D(2, (2, 3), activation="hard_silu", name="conv")(h)
    out = m.layers.Dense(2, activation="tanh_shrink", name="head")(m.layers.Flatten()(h))
    return m.models.Model(inp, out, name=name)


def _gates_forward(p, x):
    dense = ref.dense
    a = dense(p, "shared", ref.act("mish", dense(p, "pre", x, "tanh")), "gelu")
    b = dense(p, "shared", ref.act("silu", dense(p, "lin", x)), "gelu")
    h = np.concatenate([a, b], axis=-1).reshape(-1, 3, 8, 1)
    h = ref.act("hard_silu", _conv_valid(h, p["conv/kernel"], p["conv/bias"]))
    return [dense(p, "head", h.reshape(len(h), -1), "tanh_shrink")]


def test_gates_every_path_against_finite_differences_and_keras():
    import kcc.layers
    import kcc.models
    rng = np.random.default_rng(11)
    model = _gates_model(kcc)
    model.compile(optimizer="sgd", loss="mse")
    params = ref.randomize(model, rng, scale=2.0)
    x = rng.normal(size=(4, 3, 5)).astype(np.float32)
    y = rng.normal(size=(4, 2)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), _gates_forward(params, x)[0],
                               rtol=1e-5, atol=1e-6)
    ref.check_gradients(model, x, y, lambda p: _gates_forward(p, x), ["mse"], what="gates")
    keras = _keras()
    k_model = _gates_model(keras)
    for layer in model.layers:
        if layer.weights:
            k_model.get_layer(layer.name).set_weights(layer.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), k_model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


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


def test_a_recurrent_cell_refuses_the_gates_by_name():
    """A cell's backward keeps only its gates' outputs, which do not give these derivatives."""
    with pytest.raises(ValueError, match=r"Layer gru \(GRU\): `activation`='gelu' is not "
                                         "supported in a recurrent cell; use one of .*selu"):
        GRU(3, activation="gelu", name="gru")
    with pytest.raises(ValueError, match=r"`recurrent_activation`='silu' is not supported"):
        LSTM(3, recurrent_activation="swish", name="lstm")
