"""Conv2D / Convolution2D: shapes and layouts as the guide writes them, forward against a
direct numpy convolution, gradients against central finite differences in float64, shared
use, Keras-layout weights, errors, and a small training run.

The numpy reference works on channels-last images and a Keras (kh, kw, in, out) kernel:
y[p] = sum_{i,j} x_padded[p*stride + (i, j)*dilation] . kernel[i, j], with Keras's 'same'
padding (total = max((out-1)*stride + (k-1)*dilation + 1 - in, 0), the extra one after).
"""
import numpy as np
from numerics_ref import numeric_grad  # central differences, shared by the tests
import pytest

import kcc
from kcc import activations
from kcc.graph.trace import lower
from kcc.layers import (Conv2D, Convolution2D, Dense, Flatten, Input, TimeDistributed,
                        concatenate)
from kcc.models import Model, Sequential

CF, CL = "channels_first", "channels_last"


# -- float64 references ----------------------------------------------------------------------
def conv_ref(x, kernel, bias, data_format, strides=(1, 1), padding="valid", dilation=(1, 1),
             activation="linear"):
    if data_format == CF:
        x = x.transpose(0, 2, 3, 1)
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    if padding == "same":
        ho, wo = -(-h // sh), -(-w // sw)
        th = max((ho - 1) * sh + (kh - 1) * dh + 1 - h, 0)
        tw = max((wo - 1) * sw + (kw - 1) * dw + 1 - w, 0)
        x = np.pad(x, ((0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2), (0, 0)))
    else:
        ho, wo = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, ho, wo, f))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw]
            y += patch @ kernel[i, j]
    if bias is not None:
        y += bias
    if data_format == CF:
        y = y.transpose(0, 3, 1, 2)
    return activations.reference(activation)(y)


def image_shape(data_format, c, h, w):
    return (c, h, w) if data_format == CF else (h, w, c)


def randomize(model, rng):
    """Known float32 weights (kernels ~ N(0, 1/fan_in), biases ~ N(0, 0.3)), as float64."""
    params = {}
    for v in model.weights:
        shape = tuple(v.numpy().shape)
        fan_in = np.prod(shape[:-1]) if len(shape) > 1 else 1
        value = rng.normal(0.0, 1.0 / np.sqrt(fan_in) if len(shape) > 1 else 0.3, size=shape)
        v.assign(value.astype(np.float32))
        params[v.path] = value.astype(np.float32).astype(np.float64)
    return params


def check_gradients(model, x, y, forward, rtol=2e-3):
    """Native d(mse)/d(weights) against central differences of the float64 `forward`."""
    params = {v.path: v.numpy().astype(np.float64) for v in model.weights}
    xs = x if isinstance(x, list) else [x]
    x64 = [a.astype(np.float64) for a in xs]

    def loss(p):
        return float(np.mean((forward(p, *x64).reshape(len(y), -1) - y) ** 2))

    sums, native = model._native.gradients(model._x(x), model._y(y))
    assert abs(sums[0] / len(y) - loss(params)) <= 1e-5 * abs(loss(params)) + 1e-6
    reference = numeric_grad(loss, params)
    assert sorted(native) == sorted(reference)
    for key, ref in reference.items():
        scale = float(np.max(np.abs(ref)))
        np.testing.assert_allclose(native[key], ref, rtol=rtol, atol=rtol * scale + 1e-7,
                                   err_msg=f"gradient of {key}")


# -- shapes and layouts, as the guide writes them --------------------------------------------
def test_guide_same_conv_on_two_image_sizes():
    a = Input(shape=(3, 32, 32))
    b = Input(shape=(3, 64, 64))
    conv = Convolution2D(16, 3, 3, border_mode='same')
    conved_a = conv(a)
    assert conv.input_shape == (None, 3, 32, 32)
    conved_b = conv(b)
    assert conv.get_input_shape_at(0) == (None, 3, 32, 32)
    assert conv.get_input_shape_at(1) == (None, 3, 64, 64)
    assert conved_b.shape == (None, 16, 64, 64)
    assert len(conv.weights) == 2 and conv.kernel.shape == (3, 3, 3, 16)

    # one set of weights serves both sizes, compiled into one model
    model = Model([a, b], [conved_a, conved_b])
    rng = np.random.default_rng(0)
    xa = rng.normal(size=(2, 3, 32, 32)).astype(np.float32)
    xb = rng.normal(size=(2, 3, 64, 64)).astype(np.float32)
    ya, yb = model.predict([xa, xb])
    k, bias = conv.get_weights()
    np.testing.assert_allclose(ya, conv_ref(xa, k, bias, CF, padding="same"), atol=1e-4)
    np.testing.assert_allclose(yb, conv_ref(xb, k, bias, CF, padding="same"), atol=1e-4)


def test_layout_resolution():
    kcc.backend.set_image_data_format(CL)
    x = Input(shape=(1, 27, 27))
    k1 = Convolution2D(8, 3, 3)(x)                      # Keras 1 spelling: channels_first
    assert k1.shape == (None, 8, 25, 25)
    assert Conv2D(4, 3)(k1).shape == (None, 4, 23, 23)  # the tensor carries channels_first
    assert Conv2D(4, 3, data_format="channels_last")(k1).shape == (None, 6, 23, 4)
    assert Conv2D(4, 3, border_mode="same")(Input(shape=(2, 5, 6))).shape == (None, 4, 5, 6)
    assert Convolution2D(4, 3, 3, dim_ordering="tf")(Input(shape=(7, 6, 2))).shape == \
        (None, 5, 4, 4)
    assert Conv2D(4, (3, 3))(Input(shape=(7, 6, 2))).shape == (None, 5, 4, 4)  # global default
    kcc.backend.set_image_data_format(CF)
    try:
        assert Conv2D(4, 3)(Input(shape=(2, 7, 6))).shape == (None, 4, 5, 4)
    finally:
        kcc.backend.set_image_data_format(CL)


def test_names_and_config():
    conv = Convolution2D(8, 3, 5, subsample=(2, 2), bias=False, activation="relu")
    assert conv.name.startswith("convolution2d_")
    assert Conv2D(8, 3).name.startswith("conv2d_")
    conv(Input(shape=(3, 11, 11)))
    config = conv.get_config()
    assert config["kernel_size"] == (3, 5) and config["strides"] == (2, 2)
    assert config["data_format"] == CF and config["use_bias"] is False
    assert [w.shape for w in conv.weights] == [(3, 5, 3, 8)]
    clone = Convolution2D.from_config({**config, "name": "clone"})
    assert clone(Input(shape=(3, 11, 11))).shape == (None, 8, 5, 4)


# -- forward against numpy ---------------------------------------------------------------------
FORWARD_CASES = [  # (kernel, strides, padding, dilation, use_bias, activation)
    ((3, 3), (1, 1), "valid", (1, 1), True, "linear"),
    ((3, 3), (1, 1), "same", (1, 1), True, "relu"),
    ((3, 2), (2, 2), "valid", (1, 1), True, "tanh"),
    ((3, 3), (2, 2), "same", (1, 1), False, "linear"),
    ((2, 3), (2, 1), "same", (1, 1), True, "sigmoid"),
    ((3, 3), (1, 1), "valid", (2, 2), True, "linear"),
    ((3, 2), (1, 1), "same", (2, 2), False, "elu"),
    ((1, 1), (1, 1), "valid", (1, 1), True, "relu"),        # no im2col
    ((1, 1), (2, 2), "same", (1, 1), True, "linear"),
    ((2, 2), (1, 1), "same", (1, 1), True, "softmax"),      # over the last axis, as Keras
]


@pytest.mark.parametrize("data_format", [CF, CL])
@pytest.mark.parametrize("kernel,strides,padding,dilation,use_bias,activation", FORWARD_CASES)
def test_forward_matches_numpy(data_format, kernel, strides, padding, dilation, use_bias,
                               activation):
    rng = np.random.default_rng(1)
    shape = image_shape(data_format, 3, 9, 8)
    inp = Input(shape=shape)
    conv = Conv2D(5, kernel, strides=strides, padding=padding, data_format=data_format,
                  dilation_rate=dilation, use_bias=use_bias, activation=activation)
    model = Model(inp, conv(inp))
    p = randomize(model, rng)
    x = rng.normal(size=(4,) + shape).astype(np.float32)
    want = conv_ref(x.astype(np.float64), p[conv.kernel.path],
                    p[conv.bias.path] if use_bias else None, data_format, strides, padding,
                    dilation, activation)
    got = model.predict(x)
    assert got.shape == want.shape == (4,) + conv.compute_output_shape((None,) + shape)[1:]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("data_format", [CF, CL])
def test_keras_layout_weights(data_format):
    """A (kh, kw, in, out) kernel from Keras gives the same numbers in either layout."""
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(3, 2, 4, 6)).astype(np.float32)
    bias = rng.normal(size=(6,)).astype(np.float32)
    x_cl = rng.normal(size=(3, 7, 8, 4)).astype(np.float32)
    x = x_cl.transpose(0, 3, 1, 2).copy() if data_format == CF else x_cl
    inp = Input(shape=x.shape[1:])
    conv = Conv2D(6, (3, 2), padding="same", data_format=data_format)
    model = Model(inp, conv(inp))
    conv.set_weights([kernel, bias])
    want = conv_ref(x_cl.astype(np.float64), kernel, bias, CL, padding="same")
    got = model.predict(x)
    if data_format == CF:
        got = got.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        conv.set_weights([kernel.transpose(3, 2, 0, 1), bias])   # Keras 1 'th' layout


def test_big_image_is_computed_in_bands():
    """The im2col scratch is bounded: a 64-channel 3x3 conv on 130x130 works in bands."""
    rng = np.random.default_rng(3)
    inp = Input(shape=(64, 130, 130))
    conv = Convolution2D(8, 3, 3, border_mode="same")
    model = Model(inp, conv(inp))
    (op,) = lower(model).ops
    assert op.attrs["tile_rows"] < 130 and op.workspace["cols"] <= 2 * 1024 * 1024
    x = rng.normal(size=(1, 64, 130, 130)).astype(np.float32)
    k, b = conv.get_weights()
    np.testing.assert_allclose(model.predict(x), conv_ref(x, k, b, CF, padding="same"),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("data_format", [CF, CL])
def test_one_image_in_parallel_bands(data_format):
    """Batch 1: the runtime lends its threads and the im2col bands run as parallel tasks,
    each on its worker's own scratch; the result is the serial one."""
    rng = np.random.default_rng(4)
    inp = Input(shape=image_shape(data_format, 3, 96, 90))
    conv = Conv2D(16, 3, padding="same", activation="relu", data_format=data_format)
    model = Model(inp, conv(inp))
    (op,) = lower(model).ops
    assert not op.attrs["shifted"] and not op.attrs["winograd"]
    assert op.attrs["tile_rows"] < 96                       # several bands
    x = rng.normal(size=(3,) + inp.shape[1:]).astype(np.float32)
    k, b = conv.get_weights()
    want = conv_ref(x, k, b, data_format, padding="same", activation="relu")
    for i in range(3):
        np.testing.assert_allclose(model.predict(x[i:i + 1], batch_size=1), want[i:i + 1],
                                   rtol=1e-4, atol=1e-4)


def test_inside_time_distributed():
    rng = np.random.default_rng(4)
    frames = Input(shape=(3, 2, 6, 5))                    # (T, C, H, W)
    conv = Convolution2D(4, 3, 3, border_mode="same", activation="tanh")
    model = Model(frames, TimeDistributed(conv)(frames))
    x = rng.normal(size=(2, 3, 2, 6, 5)).astype(np.float32)
    k, b = conv.get_weights()
    want = conv_ref(x.reshape(6, 2, 6, 5), k, b, CF, padding="same", activation="tanh")
    np.testing.assert_allclose(model.predict(x), want.reshape(2, 3, 4, 6, 5), atol=1e-5)


# -- gradients against finite differences --------------------------------------------------------
GRAD_CASES = [  # (kernel, strides, padding, dilation)
    ((3, 3), (1, 1), "valid", (1, 1)),
    ((3, 2), (2, 2), "same", (1, 1)),
    ((2, 2), (1, 1), "same", (2, 2)),
    ((1, 1), (1, 1), "valid", (1, 1)),
]


@pytest.mark.parametrize("data_format", [CF, CL])
@pytest.mark.parametrize("kernel,strides,padding,dilation", GRAD_CASES)
def test_gradients_kernel_bias_input(data_format, kernel, strides, padding, dilation):
    """conv_a (tanh) -> conv_b -> mse: conv_b's input gradient reaches conv_a's weights."""
    rng = np.random.default_rng(5)
    shape = image_shape(data_format, 2, 7, 6)
    inp = Input(shape=shape)
    conv_a = Conv2D(3, (2, 3), padding="same", activation="tanh", data_format=data_format)
    conv_b = Conv2D(2, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                    data_format=data_format, use_bias=kernel != (1, 1))
    out = Flatten()(conv_b(conv_a(inp)))
    model = Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    randomize(model, rng)
    x = rng.normal(size=(5,) + shape).astype(np.float32)
    y = rng.normal(size=(5, out.shape[1])).astype(np.float32)

    def forward(p, x):
        h = conv_ref(x, p[conv_a.kernel.path], p[conv_a.bias.path], data_format,
                     padding="same", activation="tanh")
        return conv_ref(h, p[conv_b.kernel.path],
                        p[conv_b.bias.path] if conv_b.use_bias else None, data_format,
                        strides, padding, dilation)

    check_gradients(model, x, y, forward)


@pytest.mark.parametrize("data_format", [CF, CL])
def test_shared_conv_gradient_sums_both_uses(data_format):
    rng = np.random.default_rng(6)
    shape = image_shape(data_format, 2, 6, 5)
    a, b = Input(shape=shape), Input(shape=shape)
    conv = Conv2D(3, 3, activation="sigmoid", data_format=data_format)
    head = Conv2D(2, 2, data_format=data_format)
    out = concatenate([Flatten()(head(conv(a))), Flatten()(conv(b))])
    model = Model([a, b], out)
    model.compile(optimizer="sgd", loss="mse")
    randomize(model, rng)
    xa, xb = (rng.normal(size=(4,) + shape).astype(np.float32) for _ in range(2))
    y = rng.normal(size=(4, out.shape[1])).astype(np.float32)

    def forward(p, xa, xb):
        def shared(x):
            return conv_ref(x, p[conv.kernel.path], p[conv.bias.path], data_format,
                            activation="sigmoid")
        ya = conv_ref(shared(xa), p[head.kernel.path], p[head.bias.path], data_format)
        return np.concatenate([ya.reshape(4, -1), shared(xb).reshape(4, -1)], axis=1)

    check_gradients(model, [xa, xb], y, forward)


# -- errors -----------------------------------------------------------------------------------------
def test_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"conv_rank.*rank-4.*\(None, 27, 27\)"):
        Conv2D(4, 3, name="conv_rank")(Input(shape=(27, 27)))
    conv = Conv2D(4, 3, name="conv_channels", data_format=CF)
    conv(Input(shape=(3, 8, 8)))
    with pytest.raises(ValueError, match=r"conv_channels.*\(None, 3, 8, 8\).*\(None, 2, 8, 8\)"):
        conv(Input(shape=(2, 8, 8)))
    with pytest.raises(ValueError, match=r"conv_small.*\(None, 1, 2, 9\).*3x3.*rows >= 3"):
        Conv2D(4, 3, name="conv_small", data_format=CF)(Input(shape=(1, 2, 9)))
    with pytest.raises(ValueError, match=r"conv_dilated.*dilated to 5x5"):
        Conv2D(4, 3, dilation_rate=2, name="conv_dilated")(Input(shape=(4, 9, 1)))
    with pytest.raises(ValueError, match="padding.*'full'"):
        Convolution2D(4, 3, 3, border_mode="full")
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2D(4, (3, 0))
    with pytest.raises(ValueError, match="data_format"):
        Conv2D(4, 3, data_format="NCHW")
    with pytest.raises(ValueError, match="filters"):
        Conv2D(-1, 3)
    with pytest.raises(TypeError, match="kernel_size"):
        Conv2D(4)
    with pytest.raises(ValueError, match="strides.*dilation_rate"):
        Conv2D(4, 3, strides=2, dilation_rate=2)


# -- training -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("data_format", [CF, CL])
def test_training_reduces_loss(data_format):
    """Is the bright 2x2 blob in the left or the right half of the image?"""
    import kcc
    kcc.utils.set_random_seed(7)          # a fixed start: the test must not depend on luck
    rng = np.random.default_rng(7)
    n = 256
    images = rng.normal(0.0, 0.3, size=(n, 1, 10, 10)).astype(np.float32)
    labels = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    for k in range(n):
        r, c = rng.integers(0, 9), rng.integers(0, 4) + (5 if labels[k, 0] else 0)
        images[k, 0, r:r + 2, c:c + 2] += 2.0
    if data_format == CL:
        images = images.transpose(0, 2, 3, 1).copy()
    model = Sequential([
        Conv2D(4, 3, activation="relu", data_format=data_format,
               input_shape=images.shape[1:]),
        Conv2D(4, 3, strides=2, padding="same", activation="relu", data_format=data_format),
        Flatten(),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    before = model.evaluate(images, labels, verbose=0)
    model.fit(images, labels, batch_size=32, epochs=30, verbose=0)
    after = model.evaluate(images, labels, verbose=0)
    assert after[0] < 0.25 * before[0]
    assert after[1] > 0.9
