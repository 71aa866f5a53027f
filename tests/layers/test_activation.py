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
with every path. log_softmax is a row activation like softmax (kcc/ops/activations.h's
<name>_row pairs): Activation, Dense and Conv2D (channels_last and channels_first: Keras's
last axis) against Keras 3 and a float64 reference with rows far from their max, its
gradients through every template against central differences. The others (sparsemax,
glu) are errors naming the layer, the argument and the names kcc compiles.
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
NOT_COMPILED = ("sparsemax", "glu")
# inputs on both sides of every breakpoint (+-0.5, +-1, 0, 6) and in the tails
X = np.concatenate([np.linspace(-8, 8, 161), [-40.0, -1.0, -0.5, 0.5, 1.0, 6.0, 40.0]])
X = X.astype(np.float32).reshape(-1, 8)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def test_names():
    assert set(NEW + GATES) <= set(activations.NAMES)
    assert not set(NOT_COMPILED) & set(activations.NAMES)
    assert activations.get("log_softmax") == activations.get(activations.log_softmax) == "log_softmax"
    assert "log_softmax" in activations.ROW and "log_softmax" not in activations.FROM_OUTPUT
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
    with pytest.raises(ValueError, match=r"`recurrent_activation`='log_softmax' is not supported "
                                         "in a recurrent cell"):
        LSTM(3, recurrent_activation="log_softmax", name="lstm")


def test_a_recurrent_cell_refuses_the_gates_by_name():
    """A cell's backward keeps only its gates' outputs, which do not give these derivatives."""
    with pytest.raises(ValueError, match=r"Layer gru \(GRU\): `activation`='gelu' is not "
                                         "supported in a recurrent cell; use one of .*selu"):
        GRU(3, activation="gelu", name="gru")
    with pytest.raises(ValueError, match=r"`recurrent_activation`='silu' is not supported"):
        LSTM(3, recurrent_activation="swish", name="lstm")


# rows far from their max (log_softmax keeps the exact distance, where log(softmax) is -inf),
# equal rows, and X's rows
BIG = np.concatenate([X, np.array([[1000, 0, -1000, 3, 2, 1, -1, 30000],
                                   [-1e30, 5, 5, 5, 5, 5, 5, 5],
                                   [-40] * 8,
                                   [88, 87, -88, 0, 1e-3, -1e-3, 20, -20]], np.float32)])


def _log_softmax_model(m):
    """log_softmax through each template: an Activation on an input, a Dense, a Conv2D
    channels_last (over its filters) and channels_first (over its width, Keras's last axis)."""
    a = m.layers.Input(shape=(8,))
    img = m.layers.Input(shape=(5, 5, 2))
    img_cf = m.layers.Input(shape=(2, 5, 6))
    outs = [m.layers.Activation("log_softmax")(a),
            m.layers.Dense(6, activation="log_softmax", name="dense")(a),
            m.layers.Conv2D(3, 3, activation="log_softmax", name="conv")(img),
            m.layers.Conv2D(4, 2, activation="log_softmax", data_format="channels_first",
                            name="conv_cf")(img_cf)]
    return m.models.Model([a, img, img_cf], outs)


def test_log_softmax_forward_matches_keras_and_reference():
    import kcc
    rng = np.random.default_rng(5)
    model = _log_softmax_model(kcc)
    p = ref.randomize(model, rng, scale=20.0)             # Dense rows hundreds apart
    img = rng.normal(size=(BIG.shape[0], 5, 5, 2)).astype(np.float32)
    img_cf = rng.normal(size=(BIG.shape[0], 2, 5, 6)).astype(np.float32)
    got = model.predict([BIG, img, img_cf], verbose=0)
    x = BIG.astype(np.float64)
    conv_cf = _conv_valid(img_cf.transpose(0, 2, 3, 1), p["conv_cf/kernel"], p["conv_cf/bias"])
    want = [activations.log_softmax(x), ref.dense(p, "dense", x, "log_softmax"),
            activations.log_softmax(_conv_valid(img, p["conv/kernel"], p["conv/bias"])),
            activations.log_softmax(conv_cf.transpose(0, 3, 1, 2))]
    assert np.ptp(want[1], axis=-1).max() > 500            # the Dense's rows reach far too
    for g, w, what in zip(got, want, ("activation", "dense", "conv", "conv_cf")):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=2e-5, err_msg=what)
    assert got[0][-4, 2] == -31000 and got[0][-4, 7] == 0 and got[0][-3, 0] == np.float32(-1e30)
    keras = _keras()
    np.testing.assert_allclose(got[0], np.asarray(keras.activations.log_softmax(BIG, axis=-1)),
                               rtol=2e-6, atol=2e-5)
    k_model = _log_softmax_model(keras)
    for name in ("dense", "conv", "conv_cf"):
        k_model.get_layer(name).set_weights(model.get_layer(name).get_weights())
    for g, k in zip(got, k_model.predict([BIG, img, img_cf], verbose=0)):
        np.testing.assert_allclose(g, k, rtol=1e-5, atol=1e-4)


def test_log_softmax_gradients_match_finite_differences():
    """A Dense(log_softmax) writing into its slice of a concatenation, an Activation after a
    tanh Dense (not folded), a Conv2D(log_softmax) over the concatenation: every weight's
    gradient through each backward against central differences (mse on a linear head)."""
    from kcc.layers import Flatten, Reshape, concatenate
    rng = np.random.default_rng(9)
    inp = Input(shape=(5,))
    a = Dense(4, activation="log_softmax", name="hidden")(inp)
    b = Activation("log_softmax")(Dense(4, activation="tanh", name="pre")(inp))
    c = Conv2D(3, (1, 2), activation="log_softmax", name="conv")(Reshape((2, 4, 1))(concatenate([a, b])))
    model = Model(inp, Dense(2, name="head")(Flatten()(c)))
    model.compile(optimizer="sgd", loss="mse")
    ref.randomize(model, rng, scale=2.0)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = rng.normal(size=(6, 2)).astype(np.float32)

    def forward(p):
        a = ref.dense(p, "hidden", x, "log_softmax")
        b = ref.act("log_softmax", ref.dense(p, "pre", x, "tanh"))
        h = np.concatenate([a, b], axis=-1).reshape(-1, 2, 4, 1)
        c = ref.act("log_softmax", _conv_valid(h, p["conv/kernel"], p["conv/bias"]))
        return [ref.dense(p, "head", c.reshape(len(c), -1))]

    ref.check_gradients(model, x, y, forward, ["mse"], what="log_softmax")


def test_log_softmax_output_with_crossentropy_is_not_fused_and_matches_keras():
    """Crossentropy (from_logits=False) on a log_softmax output is Keras's formula on those
    values (renormalized, clipped), unfused: the p - y shortcut is softmax's alone."""
    rng = np.random.default_rng(4)
    inp = Input(shape=(5,))
    model = Model(inp, Dense(3, activation="log_softmax", name="out")(inp))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert [l.fused for l in model._native.graph.losses] == [None]
    ref.randomize(model, rng, scale=2.0)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=(6,)).astype(np.int32)
    ref.check_gradients(model, x, y, lambda p: [ref.dense(p, "out", x, "log_softmax")],
                        ["sparse_categorical_crossentropy"], what="log_softmax + sparse CE")
    keras = _keras()
    k_inp = keras.Input((5,))
    k_model = keras.Model(k_inp, keras.layers.Dense(3, activation="log_softmax", name="out")(k_inp))
    k_model.get_layer("out").set_weights(model.get_layer("out").get_weights())
    k_model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0),
                               rtol=1e-5)
