"""DepthwiseConv2D, SeparableConv2D and Conv2D/Conv1D `groups` (the grouped_conv2d op):
predictions against Keras 3 (torch) with the same weights, a net trained 2 epochs against
Keras (keras_parity), gradients against central finite differences of a float64 numpy
reference, weight names and order, config round trip, errors."""
import numpy as np
from keras_parity import assert_net_fits_as_keras, keras, same_normal_weights
from numerics_ref import assert_grads_close, assign_normal, numeric_grad
import pytest

import kcc
from kcc.layers import (Conv1D, Conv2D, Dense, DepthwiseConv2D, Flatten, Input,
                        SeparableConv2D, concatenate)
from kcc.models import Model, model_from_json

CF, CL = "channels_first", "channels_last"

# (name, class, kwargs, data format, channels): 2-D branches read a 5 x 6 image, Conv1D a
# 7-step sequence, of `channels` channels in the branch's layout
_BRANCHES = [
    ("dw", "DepthwiseConv2D", dict(kernel_size=3), CL, 3),
    ("dw_s2_m2", "DepthwiseConv2D", dict(kernel_size=3, strides=2, padding="same",
                                         depth_multiplier=2, activation="relu"), CL, 3),
    ("dw_cf_dil", "DepthwiseConv2D", dict(kernel_size=(2, 3), dilation_rate=2, padding="same",
                                          depth_multiplier=3, data_format=CF,
                                          use_bias=False), CF, 3),
    ("sep", "SeparableConv2D", dict(filters=4, kernel_size=3, depth_multiplier=2,
                                    padding="same", activation="softmax"), CL, 3),
    ("sep_cf", "SeparableConv2D", dict(filters=2, kernel_size=2, strides=2, data_format=CF,
                                       activation="tanh", use_bias=False), CF, 3),
    ("g2", "Conv2D", dict(filters=6, kernel_size=3, groups=2, padding="same"), CL, 4),
    ("g2_cf", "Conv2D", dict(filters=4, kernel_size=2, strides=2, groups=2, data_format=CF,
                             activation="sigmoid"), CF, 4),
    ("g4_dil", "Conv2D", dict(filters=8, kernel_size=3, groups=4, dilation_rate=(1, 2)), CL, 4),
    ("g1d", "Conv1D", dict(filters=6, kernel_size=3, groups=3, padding="causal"), CL, 3),
    ("g1d_cf", "Conv1D", dict(filters=4, kernel_size=2, groups=2, strides=2,
                              data_format=CF), CF, 4),
]


def _inputs(L):
    return {(r, f, c): L.Input(shape=((5, 6) if r == 2 else (7,)) + (c,) if f == CL else
                               (c,) + ((5, 6) if r == 2 else (7,)))
            for r in (1, 2) for f in (CL, CF) for c in (3, 4)}


def _branches(L, Model):
    ins = _inputs(L)
    outs = [getattr(L, cls)(name=name, **kw)(ins[(1 if cls == "Conv1D" else 2, fmt, c)])
            for name, cls, kw, fmt, c in _BRANCHES]
    return Model(list(ins.values()), outs)


def test_every_variant_predicts_as_keras():
    k = keras()
    ours, theirs = _branches(kcc.layers, Model), _branches(k.layers, k.Model)
    rng = np.random.default_rng(0)
    for name, *_ in _BRANCHES:
        assert ([w.shape for w in ours.get_layer(name).get_weights()]
                == [tuple(w.shape) for w in theirs.get_layer(name).weights]), name
        assert ([w.name for w in ours.get_layer(name).weights]
                == [w.name for w in theirs.get_layer(name).weights]), name
    same_normal_weights(ours, theirs, [b[0] for b in _BRANCHES], rng)
    xs = [rng.normal(size=(3,) + tuple(t.shape[1:])).astype(np.float32) for t in ours.inputs]
    got, want = ours.predict(xs, verbose=0), theirs.predict(xs, verbose=0)
    for (name, *_), g, w in zip(_BRANCHES, got, want):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-5, err_msg=name)


# -- a MobileNet-like block trained as Keras trains it (regularizers, a constraint) -----------
def _mobile(L, Model):
    x = L.Input(shape=(6, 6, 2))
    h = L.Conv2D(4, 3, padding="same", activation="relu", name="stem")(x)
    h = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2,
                          activation="relu", depthwise_regularizer="l2",
                          name="dw")(h)                                      # (3, 3, 8)
    h = L.Conv2D(6, 1, groups=2, activation="tanh", name="pw")(h)
    s = L.SeparableConv2D(3, 2, depth_multiplier=2, activation="relu",
                          pointwise_constraint="non_neg", bias_regularizer="l1", name="sep")(x)
    c = L.Conv1D(4, 3, groups=2, padding="same", name="c1")(L.Reshape((12, 6))(x))
    h = L.concatenate([L.Flatten()(h), L.Flatten()(s), L.Flatten()(c)])
    return Model(x, L.Dense(2, activation="softmax", name="out")(h))


def test_mobile_block_fits_as_keras():
    assert_net_fits_as_keras(_mobile, ["stem", "dw", "pw", "sep", "c1", "out"], seed=4)


# -- gradients against finite differences ---------------------------------------------------
def grouped_conv_ref(x, kernel, bias, groups, stride=(1, 1), dilation=(1, 1), pad=(0, 0, 0, 0)):
    """float64 grouped conv of channels-last (n, H, W, C) x with a (kh, kw, C/groups, F)
    kernel; pad = (top, bottom, left, right) zeros."""
    x = np.pad(x, ((0, 0), pad[:2], pad[2:], (0, 0)))
    kh, kw, cg, f = kernel.shape
    fg = f // groups
    ho = (x.shape[1] - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    wo = (x.shape[2] - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    out = np.zeros((x.shape[0], ho, wo, f))
    for i in range(kh):
        for j in range(kw):
            win = x[:, i * dilation[0]:i * dilation[0] + (ho - 1) * stride[0] + 1:stride[0],
                    j * dilation[1]:j * dilation[1] + (wo - 1) * stride[1] + 1:stride[1]]
            for grp in range(groups):
                out[..., grp * fg:(grp + 1) * fg] += (win[..., grp * cg:(grp + 1) * cg]
                                                      @ kernel[i, j, :, grp * fg:(grp + 1) * fg])
    return out if bias is None else out + bias


def test_gradients_match_finite_differences():
    cl, cf = Input(shape=(4, 5, 4)), Input(shape=(2, 4, 4))
    a = Conv2D(4, 2, groups=2, activation="tanh", name="a")(cl)                 # (3, 4, 4)
    a = DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, name="b")(a)
    b = SeparableConv2D(3, 2, depth_multiplier=2, data_format=CF, activation="sigmoid",
                        name="c")(cf)                                            # (3, 3, 3)
    model = Model([cl, cf], Dense(2, name="out")(concatenate([Flatten()(a), Flatten()(b)])))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(2)
    params = assign_normal(model, rng, 0.5)
    xa = rng.normal(size=(3, 4, 5, 4)).astype(np.float32)
    xc = rng.normal(size=(3, 2, 4, 4)).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)

    def forward(p):
        h = np.tanh(grouped_conv_ref(xa.astype(np.float64), p["a/kernel"], p["a/bias"], 2))
        dk = p["b/kernel"].reshape(3, 3, 1, 8)              # (kh, kw, C, M) -> groups = C
        h = grouped_conv_ref(h, dk, p["b/bias"], 4, stride=(2, 2), pad=(1, 1, 0, 1))
        g = grouped_conv_ref(xc.transpose(0, 2, 3, 1).astype(np.float64),
                             p["c/depthwise_kernel"].reshape(2, 2, 1, 4), None, 2)
        g = g @ p["c/pointwise_kernel"][0, 0] + p["c/bias"]
        g = 1 / (1 + np.exp(-g.transpose(0, 3, 1, 2)))
        flat = np.concatenate([h.reshape(3, -1), g.reshape(3, -1)], axis=1)
        return flat @ p["out/kernel"] + p["out/bias"]

    def loss(p):
        return float(np.mean((forward(p) - y) ** 2))

    np.testing.assert_allclose(model.predict([xa, xc], verbose=0), forward(params),
                               atol=1e-5, rtol=1e-5)
    sums, native = model._native.gradients(model._x([xa, xc]), model._y(y))
    assert abs(sums[0] / 3 - loss(params)) <= 1e-5 * loss(params) + 1e-6
    assert_grads_close(native, numeric_grad(loss, params), what="grouped conv")


# -- config, errors ---------------------------------------------------------------------------
def test_config_round_trips():
    x = Input(shape=(6, 6, 4))
    h = DepthwiseConv2D(3, depth_multiplier=2, depthwise_regularizer="l2", name="dw")(x)
    h = SeparableConv2D(3, 2, pointwise_constraint=kcc.constraints.MaxNorm(2.0),
                        use_bias=False, name="sep")(h)
    h = Conv2D(6, 1, groups=3, name="g")(h)
    model = Model(x, h)
    conf = model.get_layer("dw").get_config()
    assert conf["depth_multiplier"] == 2 and "filters" not in conf
    assert conf["depthwise_regularizer"] is not None
    assert model.get_layer("g").get_config()["groups"] == 3
    again = model_from_json(model.to_json())
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    assert again.output_shape == model.output_shape == (None, 3, 3, 6)
    k = keras()
    theirs = k.layers.DepthwiseConv2D.from_config(conf)            # Keras reads kcc's config
    assert (theirs.depth_multiplier, theirs.kernel_size) == (2, (3, 3))
    sep = k.layers.SeparableConv2D.from_config(model.get_layer("sep").get_config())
    assert (sep.filters, sep.use_bias) == (3, False)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"'g'.*filters must be evenly divisible.*groups=4, "
                                         r"filters=6"):
        Conv2D(6, 3, groups=4, name="g")
    with pytest.raises(ValueError, match=r"Layer gc: the number of input channels must be "
                                         r"evenly divisible.*groups=2.*3 channels"):
        Conv2D(4, 3, groups=2, name="gc")(Input(shape=(5, 5, 3)))
    with pytest.raises(ValueError, match=r"invalid value for `depth_multiplier`.*0"):
        DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(TypeError, match=r"DepthwiseConv2D does not take `kernel_initializer`; "
                                        r"its kernel's is `depthwise_initializer`"):
        DepthwiseConv2D(3, kernel_initializer="zeros")
    with pytest.raises(TypeError, match=r"SeparableConv2D does not take `groups`"):
        SeparableConv2D(4, 3, groups=2)
    with pytest.raises(ValueError, match=r"`strides > 1` is not compatible with "
                                         r"`dilation_rate > 1`"):
        DepthwiseConv2D(3, strides=2, dilation_rate=2)
    with pytest.raises(TypeError, match="SeparableConv2D needs `filters` and `kernel_size`"):
        SeparableConv2D(kernel_size=3)
    with pytest.raises(ValueError, match=r"depthwise_conv2d_\d+.*rank-4 input"):
        DepthwiseConv2D(3)(Input(shape=(5, 3)))
    with pytest.raises(ValueError, match="evenly divisible by the number of groups"):
        Conv1D(4, 3, groups=3)
