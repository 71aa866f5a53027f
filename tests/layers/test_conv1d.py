"""Conv1D / Convolution1D and the 1-D poolings: predictions against Keras 3 (torch) with the
same weights for every padding (valid, same, causal), stride, dilation and data format; a
text CNN trained 2 epochs against Keras (history and weights); gradients against central
finite differences of a float64 numpy reference; Keras 1 names; errors; config round trip.

One model serves several asserts: each compile builds a native module, so the branches of
a test share one."""
import os

import numpy as np
from numerics_ref import assert_grads_close, assign_normal, numeric_grad
import pytest

import kcc
from kcc.layers import (AveragePooling1D, AvgPool1D, Conv1D, Convolution1D, Dense, Embedding,
                        GlobalAveragePooling1D, GlobalMaxPool1D, GlobalMaxPooling1D, Input,
                        MaxPooling1D, concatenate)
from kcc.models import Model, Sequential, model_from_json

CF, CL = "channels_first", "channels_last"


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


# (name, layer class, kwargs, data format): every branch reads the model's input of its format
_BRANCHES = [
    ("valid", "Conv1D", dict(filters=4, kernel_size=3), CL),
    ("same_s2", "Conv1D", dict(filters=3, kernel_size=4, strides=2, padding="same",
                               activation="tanh"), CL),
    ("causal_d2", "Conv1D", dict(filters=4, kernel_size=3, dilation_rate=2, padding="causal",
                                 activation="relu"), CL),
    ("causal_s3", "Conv1D", dict(filters=2, kernel_size=4, strides=3, padding="causal",
                                 use_bias=False), CL),
    ("cf_same", "Conv1D", dict(filters=3, kernel_size=3, padding="same", data_format=CF), CF),
    ("cf_causal_s2", "Conv1D", dict(filters=4, kernel_size=2, strides=2, padding="causal",
                                    activation="sigmoid", data_format=CF), CF),
    ("cf_valid_d3", "Conv1D", dict(filters=2, kernel_size=3, dilation_rate=3, data_format=CF), CF),
    ("max", "MaxPooling1D", dict(pool_size=2), CL),
    ("avg_same", "AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), CL),
    ("max_same_cf", "MaxPooling1D", dict(pool_size=3, strides=1, padding="same",
                                         data_format=CF), CF),
    ("avg_cf", "AveragePooling1D", dict(pool_size=2, strides=3, data_format=CF), CF),
    ("gmax", "GlobalMaxPooling1D", dict(), CL),
    ("gavg_keep", "GlobalAveragePooling1D", dict(keepdims=True), CL),
    ("gmax_keep_cf", "GlobalMaxPooling1D", dict(keepdims=True, data_format=CF), CF),
    ("gavg_cf", "GlobalAveragePooling1D", dict(data_format=CF), CF),
]
STEPS, CHANNELS = 11, 3


def _branches(L, Model):
    cl, cf = L.Input(shape=(STEPS, CHANNELS)), L.Input(shape=(CHANNELS, STEPS))
    outs = [getattr(L, cls)(name=name, **kw)(cf if fmt == CF else cl)
            for name, cls, kw, fmt in _BRANCHES]
    return Model([cl, cf], outs)


def test_every_padding_stride_and_format_predicts_as_keras():
    keras = _keras()
    ours, theirs = _branches(kcc.layers, Model), _branches(keras.layers, keras.Model)
    rng = np.random.default_rng(0)
    for name, cls, _, _ in _BRANCHES:
        if cls == "Conv1D":
            weights = [rng.normal(size=w.shape).astype(np.float32)
                       for w in ours.get_layer(name).get_weights()]
            ours.get_layer(name).set_weights(weights)
            theirs.get_layer(name).set_weights(weights)   # Keras's (k, in, filters) kernel
    x = rng.normal(size=(5, STEPS, CHANNELS)).astype(np.float32)
    xs = [x, x.transpose(0, 2, 1).copy()]
    got, want = ours.predict(xs, verbose=0), theirs.predict(xs, verbose=0)
    for (name, *_), g, w, t in zip(_BRANCHES, got, want, theirs.outputs):
        assert g.shape == w.shape == (5,) + tuple(t.shape[1:]), name
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)
    assert ours.get_layer("valid").kernel.shape == (3, CHANNELS, 4)


# -- a text CNN trained as Keras trains it -------------------------------------------------
def _text_cnn(L, Model):
    ids = L.Input(shape=(12,), dtype="int32")
    h = L.Embedding(20, 6, name="embed")(ids)
    h = L.Conv1D(5, 3, padding="causal", dilation_rate=2, activation="relu", name="c1")(h)
    h = L.AveragePooling1D(2, name="pool")(h)
    h = L.Conv1D(4, 3, strides=2, padding="same", activation="tanh", name="c2")(h)
    h = L.GlobalMaxPooling1D(name="gmax")(h)
    return Model(ids, L.Dense(3, activation="softmax", name="out")(h))


def test_text_cnn_fits_as_keras():
    keras = _keras()
    ours, theirs = _text_cnn(kcc.layers, Model), _text_cnn(keras.layers, keras.Model)
    for name in ("embed", "c1", "c2", "out"):
        theirs.get_layer(name).set_weights(ours.get_layer(name).get_weights())
    rng = np.random.default_rng(1)
    x = rng.integers(0, 20, (16, 12)).astype(np.int32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    hist = []
    for m, opt in ((ours, kcc.optimizers.SGD(0.5)), (theirs, keras.optimizers.SGD(0.5))):
        m.compile(opt, "categorical_crossentropy", metrics=["accuracy"])
        hist.append(m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history)
    assert set(hist[0]) == set(hist[1]) == {"loss", "accuracy"}
    for key in hist[1]:
        np.testing.assert_allclose(hist[0][key], hist[1][key], rtol=1e-4, err_msg=key)
    assert hist[0]["loss"][1] != hist[0]["loss"][0]           # it trained
    for name in ("embed", "c1", "c2", "out"):
        for a, b in zip(ours.get_layer(name).get_weights(), theirs.get_layer(name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


# -- gradients against finite differences ---------------------------------------------------
def conv1d_ref(x, kernel, bias, padding="valid", stride=1, dilation=1):
    """float64 Conv1D on channels-last (n, steps, C) with Keras's padding."""
    k = kernel.shape[0]
    span = (k - 1) * dilation + 1
    steps = x.shape[1]
    if padding == "causal":
        x = np.pad(x, ((0, 0), (span - 1, 0), (0, 0)))
    elif padding == "same":
        out = -(-steps // stride)
        total = max((out - 1) * stride + span - steps, 0)
        x = np.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0)))
    out = (x.shape[1] - span) // stride + 1
    y = sum(x[:, j * dilation:j * dilation + (out - 1) * stride + 1:stride] @ kernel[j]
            for j in range(k))
    return y if bias is None else y + bias


def avg_pool_same_ref(x, p):
    """AveragePooling1D(p, strides=p, padding='same') over the steps inside the input."""
    out = -(-x.shape[1] // p)
    before = max((out - 1) * p + p - x.shape[1], 0) // 2
    return np.stack([x[:, max(0, o * p - before):o * p - before + p].mean(axis=1)
                     for o in range(out)], axis=1)


def test_gradients_match_finite_differences():
    cl, cf = Input(shape=(9, 2)), Input(shape=(2, 8))
    a = Conv1D(3, 3, padding="causal", dilation_rate=2, activation="tanh", name="a")(cl)
    a = AveragePooling1D(2, padding="same", name="pa")(a)
    a = Conv1D(2, 2, strides=2, padding="same", name="b")(a)
    a = GlobalMaxPooling1D(name="ga")(a)
    c = Conv1D(3, 3, strides=2, data_format=CF, activation="sigmoid", name="c")(cf)
    c = MaxPooling1D(2, strides=1, data_format=CF, name="pc")(c)
    c = GlobalAveragePooling1D(data_format=CF, name="gc")(c)
    model = Model([cl, cf], Dense(2, name="d")(concatenate([a, c])))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(2)
    params = assign_normal(model, rng, 0.7)
    xa = rng.normal(size=(3, 9, 2)).astype(np.float32)
    xc = rng.normal(size=(3, 2, 8)).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)

    def forward(p):
        h = np.tanh(conv1d_ref(xa.astype(np.float64), p["a/kernel"], p["a/bias"], "causal",
                               dilation=2))
        h = conv1d_ref(avg_pool_same_ref(h, 2), p["b/kernel"], p["b/bias"], "same", stride=2)
        g = conv1d_ref(xc.transpose(0, 2, 1).astype(np.float64), p["c/kernel"], p["c/bias"],
                       stride=2)
        g = 1 / (1 + np.exp(-g))
        g = np.maximum(g[:, :-1], g[:, 1:]).mean(axis=1)
        return np.concatenate([h.max(axis=1), g], axis=1) @ p["d/kernel"] + p["d/bias"]

    def loss(p):
        return float(np.mean((forward(p) - y) ** 2))

    np.testing.assert_allclose(model.predict([xa, xc], verbose=0), forward(params), atol=1e-5)
    sums, native = model._native.gradients(model._x([xa, xc]), model._y(y))
    assert abs(sums[0] / 3 - loss(params)) <= 1e-5 * loss(params) + 1e-6
    reference = numeric_grad(loss, params)
    assert_grads_close(native, reference, what="conv1d")


# -- Keras 1 names, layouts, config ---------------------------------------------------------
def test_keras1_names_and_layout():
    model = Sequential()
    model.add(Convolution1D(nb_filter=4, filter_length=3, border_mode="same",
                            subsample_length=1, activation="relu", input_dim=5,
                            input_length=10))
    model.add(MaxPooling1D(pool_length=2, stride=None))
    model.add(Convolution1D(2, 2))
    model.add(GlobalMaxPooling1D())
    assert model.layers[0].name == "convolution1d_1"
    assert model.output_shape == (None, 2)           # Keras 1 1-D layers are channels-last
    assert model.layers[0].kernel.shape == (3, 5, 4)
    assert model.layers[1].output_shape == (None, 5, 4)
    # a channels_first output carries its layout to the next 1-D layer
    x = Conv1D(6, 3, data_format=CF)(Input(shape=(4, 10)))
    assert x.shape == (None, 6, 8) and MaxPooling1D(2)(x).shape == (None, 6, 4)
    assert GlobalMaxPool1D(keepdims=True)(x).shape == (None, 6, 1)
    assert AvgPool1D is AveragePooling1D


def test_config_round_trips():
    x = Input(shape=(10, 3))
    h = Conv1D(4, 3, strides=2, padding="causal", activation="relu", use_bias=False,
               kernel_regularizer="l2", data_format=CL, name="conv")(x)
    h = AveragePooling1D(2, padding="same", name="pool")(h)
    h = GlobalAveragePooling1D(keepdims=True, name="gap")(h)
    model = Model(x, h)
    conf = model.get_layer("conv").get_config()
    assert (conf["kernel_size"], conf["strides"], conf["dilation_rate"], conf["padding"]) == \
        ((3,), (2,), (1,), "causal")
    again = model_from_json(model.to_json())
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    assert again.output_shape == (None, 1, 4)
    keras = _keras()
    theirs = keras.layers.Conv1D.from_config(conf)          # Keras reads kcc's config
    assert (theirs.padding, theirs.strides, theirs.use_bias) == ("causal", (2,), False)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"conv1d_\d+.*rank-3 input.*\(batch, steps, channels\)"
                                         r".*received shape \(None, 4, 4, 2\)"):
        Conv1D(2, 3)(Input(shape=(4, 4, 2)))
    with pytest.raises(ValueError, match=r"short_conv.*4 steps.*kernel_size 3 dilated to 5.*"
                                         r"Expected at least 5 steps"):
        Conv1D(2, 3, dilation_rate=2, name="short_conv")(Input(shape=(4, 2)))
    with pytest.raises(ValueError, match=r"'strided'.*`strides > 1` is not compatible with "
                                         r"`dilation_rate > 1`"):
        Conv1D(2, 3, strides=2, dilation_rate=2, name="strided")
    with pytest.raises(ValueError, match=r"'odd'.*expected 'valid', 'same' or 'causal'.*"
                                         r"padding='full'"):
        Conv1D(2, 3, padding="full", name="odd")
    with pytest.raises(ValueError, match=r"'mp'.*expected 'valid' or 'same'.*padding='causal'"):
        MaxPooling1D(2, padding="causal", name="mp")
    with pytest.raises(ValueError, match=r"mp2 expects 3D inputs \(batch, steps, channels\); "
                                         r"received shape \(None, 8\)"):
        MaxPooling1D(2, name="mp2")(Input(shape=(8,)))
    with pytest.raises(ValueError, match=r"mp3: pool_size 5 is larger than the input's 3 steps"):
        MaxPooling1D(5, name="mp3")(Input(shape=(3, 2)))
    with pytest.raises(TypeError, match="Conv1D needs `filters` and `kernel_size`"):
        Conv1D(4)
    with pytest.raises(ValueError, match=r"filters must be evenly divisible by the number of "
                                         r"groups. Received: groups=3, filters=4"):
        Conv1D(4, 3, groups=3)
    conv = Conv1D(2, 3, name="locked")
    conv(Input(shape=(6, 2)))
    with pytest.raises(ValueError, match="locked"):
        conv(Input(shape=(6, 3)))                   # built for 2 channels
