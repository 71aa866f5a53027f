"""Conv2DTranspose / Conv1DTranspose: predictions against Keras 3 (torch) with the same
weights for valid/same padding, strides, output_padding, dilation and both data formats; a
decoder trained 2 epochs against Keras (keras_parity); gradients against central finite
differences of a float64 numpy reference; config round trip; errors for what Keras refuses
and what kcc does not take."""
import numpy as np
from keras_parity import assert_net_fits_as_keras, keras, same_normal_weights
from numerics_ref import assert_grads_close, assign_normal, numeric_grad
import pytest

import kcc
from kcc.layers import Conv1DTranspose, Conv2D, Conv2DTranspose, Dense, Flatten, Input, concatenate
from kcc.layers.conv_transpose import transposed_length
from kcc.models import Model, model_from_json

CF, CL = "channels_first", "channels_last"

# (name, layer class, kwargs, data format); 2-D branches read a (5, 6, 3) image, 1-D ones a
# (7, 3) sequence, in the branch's layout
_BRANCHES = [
    ("valid", "Conv2DTranspose", dict(filters=3, kernel_size=3), CL),
    ("same_s2", "Conv2DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same",
                                        activation="relu"), CL),
    ("valid_op", "Conv2DTranspose", dict(filters=2, kernel_size=(3, 2), strides=(2, 3),
                                         output_padding=(1, 2)), CL),
    ("same_op_even", "Conv2DTranspose", dict(filters=2, kernel_size=4, strides=2, padding="same",
                                             output_padding=1, use_bias=False), CL),
    ("same_s3", "Conv2DTranspose", dict(filters=2, kernel_size=3, strides=3, padding="same",
                                        output_padding=(0, 2), activation="tanh"), CL),
    ("dilated", "Conv2DTranspose", dict(filters=2, kernel_size=(2, 3), dilation_rate=(2, 1),
                                        padding="same"), CL),
    ("softmax", "Conv2DTranspose", dict(filters=4, kernel_size=2, strides=2,
                                        activation="softmax"), CL),
    ("cf_same_s2", "Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same",
                                           data_format=CF), CF),
    ("cf_1x1", "Conv2DTranspose", dict(filters=4, kernel_size=1, data_format=CF,
                                       activation="sigmoid"), CF),
    ("cf_5x5", "Conv2DTranspose", dict(filters=2, kernel_size=5, strides=2, padding="same",
                                       output_padding=0, data_format=CF), CF),
    ("cf_dilated", "Conv2DTranspose", dict(filters=3, kernel_size=3, dilation_rate=2,
                                           data_format=CF), CF),
    ("t1", "Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2), CL),
    ("t1_same", "Conv1DTranspose", dict(filters=2, kernel_size=4, strides=3, padding="same",
                                        output_padding=2, activation="elu"), CL),
    ("t1_cf_dilated", "Conv1DTranspose", dict(filters=2, kernel_size=3, dilation_rate=3,
                                              padding="same", data_format=CF), CF),
]


def _branches(L, Model):
    ins = {(2, CL): L.Input(shape=(5, 6, 3)), (2, CF): L.Input(shape=(3, 5, 6)),
           (1, CL): L.Input(shape=(7, 3)), (1, CF): L.Input(shape=(3, 7))}
    outs = [getattr(L, cls)(name=name, **kw)(ins[(1 if "1D" in cls else 2, fmt)])
            for name, cls, kw, fmt in _BRANCHES]
    return Model(list(ins.values()), outs)


def test_every_padding_stride_and_format_predicts_as_keras():
    k = keras()
    ours, theirs = _branches(kcc.layers, Model), _branches(k.layers, k.Model)
    rng = np.random.default_rng(0)
    same_normal_weights(ours, theirs, [b[0] for b in _BRANCHES], rng)   # (.., filters, in)
    image, seq = (rng.normal(size=s).astype(np.float32) for s in ((4, 5, 6, 3), (4, 7, 3)))
    xs = [image, image.transpose(0, 3, 1, 2).copy(), seq, seq.transpose(0, 2, 1).copy()]
    got, want = ours.predict(xs, verbose=0), theirs.predict(xs, verbose=0)
    for (name, *_), g, w, t in zip(_BRANCHES, got, want, theirs.outputs):
        assert g.shape == w.shape == (4,) + tuple(t.shape[1:]), name
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-5, err_msg=name)
    assert ours.get_layer("valid").kernel.shape == (3, 3, 3, 3)
    assert ours.get_layer("valid_op").kernel.shape == (3, 2, 2, 3)
    assert ours.get_layer("t1").kernel.shape == (3, 3, 3)


# -- a decoder trained as Keras trains it (with a regularizer and a constraint) ---------------
def _decoder(L, Model):
    x = L.Input(shape=(3, 4, 2))
    h = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu",
                          kernel_regularizer="l2", bias_regularizer="l1", name="up1")(x)
    h = L.Conv2D(3, 3, strides=2, name="down")(h)
    h = L.Conv2DTranspose(2, (2, 3), strides=(2, 1), output_padding=(1, 0),
                          activation="tanh", kernel_constraint="non_neg", name="up2")(h)
    s = L.Conv1DTranspose(3, 3, strides=2, padding="same", activation="sigmoid",
                          name="up1d")(L.Reshape((12, 2))(x))
    c = L.Conv2DTranspose(2, 3, dilation_rate=2, data_format=CF, name="upcf")(
        L.Permute((3, 1, 2))(x))
    h = L.concatenate([L.Flatten()(h), L.Flatten()(s), L.Flatten()(c)])
    return Model(x, L.Dense(2, activation="softmax", name="out")(h))


def test_decoder_fits_as_keras():
    assert_net_fits_as_keras(_decoder, ["up1", "down", "up2", "up1d", "upcf", "out"], seed=3)


# -- gradients against finite differences ---------------------------------------------------
def conv_transpose_ref(x, kernel, bias, strides, dilation, padding, output_padding=None):
    """float64 Keras 3 transposed conv of a channels-last (n, *spatial, in) x with a
    (*k, filters, in) kernel: the full (len - 1) * stride + span output, then the window
    Keras keeps (zeros past the full output's end)."""
    rank = x.ndim - 2
    ks = kernel.shape[:rank]
    spans = [(k - 1) * d + 1 for k, d in zip(ks, dilation)]
    full = np.zeros((x.shape[0],) + tuple((n - 1) * s + sp for n, s, sp in
                                          zip(x.shape[1:-1], strides, spans)) + kernel.shape[-2:-1])
    for tap in np.ndindex(*ks):
        at = tuple(slice(t * d, t * d + (n - 1) * s + 1, s)
                   for t, d, n, s in zip(tap, dilation, x.shape[1:-1], strides))
        full[(slice(None),) + at] += x @ kernel[tap].T
    ops = output_padding or (None,) * rank
    window = []
    for axis, (n, k, s, d, op) in enumerate(zip(x.shape[1:-1], ks, strides, dilation, ops)):
        length, crop = transposed_length(n, k, padding, s, d, op)
        window.append((length, crop))
    out = np.zeros((x.shape[0],) + tuple(l for l, _ in window) + kernel.shape[-2:-1])
    src = full[(slice(None),) + tuple(slice(c, c + l) for l, c in window)]
    out[(slice(None),) + tuple(slice(0, m) for m in src.shape[1:-1])] = src
    return out + bias


def test_gradients_match_finite_differences():
    cl, cf, seq = Input(shape=(3, 4, 2)), Input(shape=(2, 3, 3)), Input(shape=(4, 2))
    a = Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh", name="a")(cl)
    a = Conv2D(2, 2, strides=2, name="b")(a)                  # dx of `a` flows into cl's model
    a = Conv2DTranspose(2, (2, 3), strides=(2, 1), output_padding=(1, 0), name="c")(a)
    c = Conv2DTranspose(2, 3, dilation_rate=2, data_format=CF, activation="sigmoid",
                        name="d")(cf)
    s = Conv1DTranspose(2, 4, strides=3, padding="same", output_padding=1, name="e")(seq)
    model = Model([cl, cf, seq], Dense(2, name="out")(
        concatenate([Flatten()(a), Flatten()(c), Flatten()(s)])))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(2)
    params = assign_normal(model, rng, 0.5)
    xa = rng.normal(size=(3, 3, 4, 2)).astype(np.float32)
    xc = rng.normal(size=(3, 2, 3, 3)).astype(np.float32)
    xs = rng.normal(size=(3, 4, 2)).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)

    def conv_ref(x, kernel, bias, stride):               # Conv2D 'valid', channels-last
        kh, kw = kernel.shape[:2]
        ho, wo = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
        return sum(x[:, i:i + (ho - 1) * stride + 1:stride, j:j + (wo - 1) * stride + 1:stride]
                   @ kernel[i, j] for i in range(kh) for j in range(kw)) + bias

    def forward(p):
        h = np.tanh(conv_transpose_ref(xa.astype(np.float64), p["a/kernel"], p["a/bias"],
                                       (2, 2), (1, 1), "same"))
        h = conv_ref(h, p["b/kernel"], p["b/bias"], 2)
        h = conv_transpose_ref(h, p["c/kernel"], p["c/bias"], (2, 1), (1, 1), "valid", (1, 0))
        g = conv_transpose_ref(xc.transpose(0, 2, 3, 1).astype(np.float64), p["d/kernel"],
                               p["d/bias"], (1, 1), (2, 2), "valid")
        g = 1 / (1 + np.exp(-g.transpose(0, 3, 1, 2)))
        e = conv_transpose_ref(xs.astype(np.float64), p["e/kernel"], p["e/bias"], (3,), (1,),
                               "same", (1,))
        flat = np.concatenate([v.reshape(3, -1) for v in (h, g, e)], axis=1)
        return flat @ p["out/kernel"] + p["out/bias"]

    def loss(p):
        return float(np.mean((forward(p) - y) ** 2))

    np.testing.assert_allclose(model.predict([xa, xc, xs], verbose=0), forward(params),
                               atol=1e-5, rtol=1e-5)
    sums, native = model._native.gradients(model._x([xa, xc, xs]), model._y(y))
    assert abs(sums[0] / 3 - loss(params)) <= 1e-5 * loss(params) + 1e-6
    assert_grads_close(native, numeric_grad(loss, params), what="conv_transpose")


def test_input_gradient_matches_finite_differences():
    """dx of a transposed conv (the conv forward of dz) reaches a trained layer before it."""
    x = Input(shape=(4, 3))
    h = Dense(3, name="pre")(x)                               # (4, 3) -> (4, 3)
    h = kcc.layers.Reshape((2, 2, 3))(h)
    h = Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1, name="t")(h)
    model = Model(x, Dense(1, name="out")(Flatten()(h)))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(5)
    params = assign_normal(model, rng, 0.6)
    xv = rng.normal(size=(2, 4, 3)).astype(np.float32)
    y = rng.normal(size=(2, 1)).astype(np.float32)

    def loss(p):
        h = (xv.astype(np.float64) @ p["pre/kernel"] + p["pre/bias"]).reshape(2, 2, 2, 3)
        h = conv_transpose_ref(h, p["t/kernel"], p["t/bias"], (2, 2), (1, 1), "same", (1, 1))
        return float(np.mean((h.reshape(2, -1) @ p["out/kernel"] + p["out/bias"] - y) ** 2))

    _, native = model._native.gradients(model._x(xv), model._y(y))
    assert_grads_close(native, numeric_grad(loss, params), what="conv_transpose dx")


# -- config, shapes, errors -------------------------------------------------------------------
def test_output_shapes_match_keras_formula():
    k = keras()
    for kw in (dict(kernel_size=3, strides=2, padding="same", output_padding=1),
               dict(kernel_size=4, strides=3), dict(kernel_size=2, strides=3),
               dict(kernel_size=3, strides=2, padding="valid", output_padding=1),
               dict(kernel_size=5, dilation_rate=2, padding="same")):
        ours = Conv2DTranspose(2, **kw)(Input(shape=(5, 7, 1))).shape
        theirs = k.layers.Conv2DTranspose(2, **kw)(k.Input(shape=(5, 7, 1))).shape
        assert tuple(ours) == tuple(theirs), kw


def test_config_round_trips():
    x = Input(shape=(4, 4, 2))
    h = Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1, activation="relu",
                        use_bias=False, kernel_regularizer="l2", name="up")(x)
    s = Conv1DTranspose(2, 3, strides=2, data_format=CF, name="up1")(
        kcc.layers.Reshape((3, 64))(h))
    model = Model(x, s)
    conf = model.get_layer("up").get_config()
    assert (conf["kernel_size"], conf["strides"], conf["output_padding"], conf["padding"]) == \
        ((3, 3), (2, 2), (1, 1), "same")
    again = model_from_json(model.to_json())
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    assert again.output_shape == model.output_shape
    theirs = keras().layers.Conv2DTranspose.from_config(conf)   # Keras reads kcc's config
    assert (theirs.output_padding, theirs.strides, theirs.use_bias) == ((1, 1), (2, 2), False)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"'op'.*`output_padding` must be strictly less than "
                                         r"the corresponding `strides`.*At index 1"):
        Conv2DTranspose(2, 3, strides=(2, 2), output_padding=(1, 2), name="op")
    with pytest.raises(ValueError, match=r"'opn'.*output_padding.*non-negative"):
        Conv2DTranspose(2, 3, output_padding=-1, name="opn")
    with pytest.raises(ValueError, match=r"'sd'.*`strides > 1` is not compatible with "
                                         r"`dilation_rate > 1`"):
        Conv2DTranspose(2, 3, strides=2, dilation_rate=2, name="sd")
    with pytest.raises(ValueError, match=r"'p'.*expected 'valid' or 'same'.*padding='causal'"):
        Conv1DTranspose(2, 3, padding="causal", name="p")
    with pytest.raises(TypeError, match=r"Conv2DTranspose does not take `groups`"):
        Conv2DTranspose(2, 3, groups=2)
    with pytest.raises(TypeError, match=r"Keras 1's `border_mode`"):
        Conv2DTranspose(2, 3, border_mode="same")
    with pytest.raises(ValueError, match=r"conv2d_transpose_\d+.*rank-4 input"):
        Conv2DTranspose(2, 3)(Input(shape=(4, 2)))
    with pytest.raises(ValueError, match=r"Layer empty: .*give an empty output"):
        Conv1DTranspose(2, 2, padding="same", output_padding=0, strides=1,
                        name="empty")(Input(shape=(1, 2)))
    assert Conv2DTranspose is kcc.layers.Convolution2DTranspose
