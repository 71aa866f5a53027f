"""MaxPooling2D, AveragePooling2D, GlobalMaxPooling2D, GlobalAveragePooling2D.

Forward: compiled predictions against a float64 numpy reference (both layouts, 'valid' and
'same', strides, odd sizes, windows larger than the image under 'same', TimeDistributed).
Backward: d(mse)/d(weights) of Input -> Dense (on the last axis) -> pool -> Flatten -> Dense
against central differences of the numpy model, so the first Dense's gradient checks the
pool's dx; max-pool ties route the whole gradient to the first max in row-major window
order (checked exactly). Layout inference: explicit data_format > Keras 1 spelling > the
input tensor's layout > the global default (DESIGN.md). Errors name the layer.
The references here are shared with test_padding.py and test_flatten_image_order.py.
"""
import numpy as np
from numerics_ref import numeric_grad  # central differences, shared by the tests
import pytest

import kcc
from kcc.layers import (AveragePooling2D, Conv2D, Convolution2D, Dense, Flatten,
                        GlobalAveragePooling2D, GlobalMaxPooling2D, Input, MaxPooling2D,
                        TimeDistributed, ZeroPadding2D, concatenate)
from kcc.models import Model, Sequential
from kcc.utils import clear_session

RTOL = 2e-3
N = 5         # batch rows: odd


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()


# -- float64 references ----------------------------------------------------------------------
def to_last(x, data_format):
    return x if data_format == "channels_last" else np.moveaxis(x, -3, -1)


def from_last(x, data_format):
    return x if data_format == "channels_last" else np.moveaxis(x, -1, -3)


def _out_and_pad(size, k, s, padding):
    """TensorFlow's window arithmetic, written out again: (out length, pad before)."""
    if padding == "valid":
        return (size - k) // s + 1, 0
    out = -(-size // s)
    return out, max((out - 1) * s + k - size, 0) // 2


def windows(h, w, pool, strides, padding):
    """Per output pixel (oh, ow): the clipped input window rows and cols (slices)."""
    (oh, pt), (ow, pl) = _out_and_pad(h, pool[0], strides[0], padding), \
        _out_and_pad(w, pool[1], strides[1], padding)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - pt, j * strides[1] - pl
            yield (i, j, slice(max(r0, 0), min(r0 + pool[0], h)),
                   slice(max(c0, 0), min(c0 + pool[1], w)))


def pool_ref(x, kind, pool=(2, 2), strides=None, padding="valid", data_format="channels_last"):
    """(n, ...image) -> pooled, float64; padding never counts (Keras 'same' average)."""
    strides = strides or pool
    x = to_last(np.asarray(x, np.float64), data_format)
    n, h, w, c = x.shape
    (oh, _), (ow, _) = _out_and_pad(h, pool[0], strides[0], padding), \
        _out_and_pad(w, pool[1], strides[1], padding)
    y = np.zeros((n, oh, ow, c))
    for i, j, rs, cs in windows(h, w, pool, strides, padding):
        win = x[:, rs, cs, :]
        y[:, i, j, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return from_last(y, data_format)


def max_pool_backward_ref(x, dy, pool, strides=None, padding="valid", data_format="channels_last"):
    """dx of max pooling: each dy to the FIRST max of its window, in row-major order."""
    strides = strides or pool
    x = to_last(np.asarray(x, np.float64), data_format)
    dy = to_last(np.asarray(dy, np.float64), data_format)
    n, h, w, c = x.shape
    dx = np.zeros_like(x)
    for i, j, rs, cs in windows(h, w, pool, strides, padding):
        for b in range(n):
            for ch in range(c):
                win = x[b, rs, cs, ch]
                r, q = np.unravel_index(np.argmax(win), win.shape)     # argmax: first max
                dx[b, rs.start + r, cs.start + q, ch] += dy[b, i, j, ch]
    return from_last(dx, data_format)


def dense(p, name, x):
    return np.asarray(x, np.float64) @ p[f"{name}/kernel"] + p.get(f"{name}/bias", 0.0)


def mse(pred, y):
    return float(np.mean((pred - y) ** 2))


def randomize(model, rng):
    """Kernels N(0, 1 / fan_in), biases N(0, 0.2^2), as float32 in the model."""
    for v in model.weights:
        std = 0.2 if v.name == "bias" else 1 / np.sqrt(v.shape[0])
        v.assign(rng.normal(0.0, std, v.shape).astype(np.float32))


def check_gradients(model, x, forward, rng, what):
    """Compile with mse, then the native weight gradients against central differences of
    mse(forward(params), y) in float64; returns the native gradients."""
    model.compile("sgd", "mse")
    randomize(model, rng)
    y = rng.normal(size=(len(x),) + tuple(model.outputs[0].shape[1:])).astype(np.float32)
    params = {v.path: v.numpy().astype(np.float64) for v in model.weights}
    sums, native = model._native.gradients(model._x(x), model._y(y))
    expected = mse(forward(params), y)
    assert abs(sums[0] / len(x) - expected) <= 1e-5 * abs(expected) + 1e-6, what
    reference = numeric_grad(lambda p: mse(forward(p), y), params)
    assert sorted(native) == sorted(reference), what
    for key, ref in reference.items():
        scale = float(np.max(np.abs(ref)))
        assert scale > 1e-4, f"{what}: gradient of {key} vanishes"
        np.testing.assert_allclose(native[key], ref, rtol=RTOL, atol=RTOL * scale + 1e-7,
                                   err_msg=f"{what}: gradient of {key}")
    return native


def image(rng, shape, n=N):
    return rng.normal(size=(n,) + tuple(shape)).astype(np.float32)


# -- forward ---------------------------------------------------------------------------------
CASES = [  # (pool, strides, padding)
    ((2, 2), None, "valid"),
    ((2, 2), None, "same"),
    ((3, 3), (1, 1), "same"),           # the guide's Inception tower_3
    ((3, 2), (2, 1), "same"),
    ((2, 3), (3, 2), "valid"),
    ((1, 1), (2, 2), "valid"),          # strides larger than the window: pixels skipped
    ((4, 4), (3, 3), "same"),           # windows hanging over two edges
]
FORMATS = ["channels_last", "channels_first"]


@pytest.mark.parametrize("cls, kind", [(MaxPooling2D, "max"), (AveragePooling2D, "avg")])
@pytest.mark.parametrize("data_format", FORMATS)
def test_forward_against_numpy(cls, kind, data_format):
    rng = np.random.default_rng(0)
    shape = (7, 5, 3) if data_format == "channels_last" else (3, 7, 5)
    inp = Input(shape=shape)
    outs = [cls(p, s, pad, data_format)(inp) for p, s, pad in CASES]
    x = image(rng, shape, n=6)
    x[:, :2] = np.round(x[:, :2])       # some ties in the windows
    model = Model(inp, outs)
    got = model.predict(x)
    # one image at a time: the runtime lends its threads to the op (channel slices)
    single = model.predict(x[:1], batch_size=1)
    for (p, s, pad), out, y, y1 in zip(CASES, outs, got, single):
        want = pool_ref(x, kind, p, s, pad, data_format)
        assert out.shape[1:] == want.shape[1:], (p, s, pad)
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6, err_msg=f"{p} {s} {pad}")
        np.testing.assert_allclose(y1, want[:1], rtol=1e-6, atol=1e-6, err_msg=f"batch 1: {p} {s} {pad}")


@pytest.mark.parametrize("cls, kind", [(MaxPooling2D, "max"), (AveragePooling2D, "avg")])
def test_one_big_image_splits_channels(cls, kind):
    """Batch 1 of a channels-first image of >= 64K values: the channel planes are pooled
    on the lent threads, a slice each; same result as the reference."""
    rng = np.random.default_rng(5)
    inp = Input(shape=(17, 64, 61))
    outs = [cls(p, s, pad, "channels_first")(inp) for p, s, pad in CASES[:4]]
    model = Model(inp, outs)
    x = image(rng, (17, 64, 61), n=1)
    for (p, s, pad), y in zip(CASES[:4], model.predict(x, batch_size=1)):
        np.testing.assert_allclose(y, pool_ref(x, kind, p, s, pad, "channels_first"),
                                   rtol=1e-6, atol=1e-6, err_msg=f"{p} {s} {pad}")


@pytest.mark.parametrize("data_format", FORMATS)
def test_global_pooling_forward(data_format):
    rng = np.random.default_rng(1)
    shape = (5, 3, 4) if data_format == "channels_last" else (4, 5, 3)
    inp = Input(shape=shape)
    outs = [GlobalMaxPooling2D(data_format)(inp), GlobalAveragePooling2D(data_format)(inp),
            GlobalAveragePooling2D(data_format, keepdims=True)(inp)]
    keep_shape = (None, 1, 1, 4) if data_format == "channels_last" else (None, 4, 1, 1)
    assert [o.shape for o in outs] == [(None, 4), (None, 4), keep_shape]
    x = image(rng, shape)
    gmax, gavg, keep = Model(inp, outs).predict(x)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    np.testing.assert_allclose(gmax, x.max(axis=axes), rtol=1e-6)
    np.testing.assert_allclose(gavg, x.astype(np.float64).mean(axis=axes), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keep.reshape(gavg.shape), gavg, rtol=1e-6)


def test_time_distributed_pooling():
    rng = np.random.default_rng(2)
    seq = Input(shape=(3, 6, 5, 2))
    out = TimeDistributed(MaxPooling2D((2, 2), padding="same", data_format="channels_last"))(seq)
    assert out.shape == (None, 3, 3, 3, 2)
    x = image(rng, (3, 6, 5, 2))
    want = np.stack([pool_ref(x[:, t], "max", (2, 2), None, "same") for t in range(3)], axis=1)
    np.testing.assert_allclose(Model(seq, out).predict(x, batch_size=2), want, rtol=1e-6)


# -- backward --------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kind", [(MaxPooling2D, "max"), (AveragePooling2D, "avg")])
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("pool, strides, padding", [CASES[0], CASES[2], CASES[3], CASES[4]])
def test_gradients(cls, kind, data_format, pool, strides, padding):
    """Input -> Dense('pre', last axis) -> pool -> Flatten -> Dense('head') -> mse."""
    rng = np.random.default_rng(3)
    shape = (7, 5, 2) if data_format == "channels_last" else (2, 7, 5)
    inp = Input(shape=shape)
    h = Dense(3 if data_format == "channels_last" else 5, name="pre")(inp)
    out = Dense(2, name="head")(Flatten()(cls(pool, strides, padding, data_format)(h)))
    x = image(rng, shape)

    def forward(p):
        pooled = pool_ref(dense(p, "pre", x), kind, pool, strides, padding, data_format)
        return dense(p, "head", pooled.reshape(len(x), -1))

    check_gradients(Model(inp, out), x, forward, rng, f"{kind} {data_format} {pool} {padding}")


@pytest.mark.parametrize("cls, kind", [(GlobalMaxPooling2D, "max"),
                                       (GlobalAveragePooling2D, "avg")])
@pytest.mark.parametrize("data_format", FORMATS)
def test_global_pooling_gradients(cls, kind, data_format):
    rng = np.random.default_rng(4)
    shape = (5, 3, 2) if data_format == "channels_last" else (2, 5, 3)
    inp = Input(shape=shape)
    out = Dense(2, name="head")(cls(data_format)(Dense(3, name="pre")(inp)))
    x = image(rng, shape)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)

    def forward(p):
        h = dense(p, "pre", x)
        return dense(p, "head", h.max(axis=axes) if kind == "max" else h.mean(axis=axes))

    check_gradients(Model(inp, out), x, forward, rng, f"global {kind} {data_format}")


def test_gradients_inside_time_distributed():
    """The pool runs on n * T rows (io.n): its backward must cover every timestep."""
    rng = np.random.default_rng(5)
    seq = Input(shape=(3, 4, 5, 2))
    h = Dense(3, name="pre")(seq)
    pooled = TimeDistributed(AveragePooling2D((2, 2), (1, 2), "same", "channels_last"))(h)
    out = Dense(2, name="head")(Flatten()(pooled))
    x = image(rng, (3, 4, 5, 2))

    def forward(p):
        z = dense(p, "pre", x)
        steps = np.stack([pool_ref(z[:, t], "avg", (2, 2), (1, 2), "same") for t in range(3)], 1)
        return dense(p, "head", steps.reshape(len(x), -1))

    check_gradients(Model(seq, out), x, forward, rng, "TimeDistributed avg pool")


def test_fan_out_backwards_accumulate():
    """One tensor read by a max pool, an average pool, a zero padding, a reordering Flatten
    and a plain Flatten: the first backward to reach it writes dx, the others add."""
    rng = np.random.default_rng(7)
    inp = Input(shape=(4, 5, 2))
    h = Dense(3, name="pre")(inp)
    parts = [MaxPooling2D((2, 2), padding="same")(h), AveragePooling2D((3, 2), (1, 2))(h),
             ZeroPadding2D(((1, 0), (0, 1)))(h)]
    flat = [Flatten()(t) for t in parts] + [Flatten(data_format="channels_first")(h), Flatten()(h)]
    out = Dense(2, name="head")(concatenate(flat))
    x = image(rng, (4, 5, 2))

    def forward(p):
        z = dense(p, "pre", x)
        ts = [pool_ref(z, "max", (2, 2), None, "same"), pool_ref(z, "avg", (3, 2), (1, 2)),
              np.pad(z, [(0, 0), (1, 0), (0, 1), (0, 0)]), np.moveaxis(z, 1, -1), z]
        return dense(p, "head", np.concatenate([t.reshape(len(x), -1) for t in ts], axis=1))

    model = Model(inp, out)
    check_gradients(model, x, forward, rng, "fan-out")
    src = model._native.source           # the max pool's backward runs last: it adds
    assert "max_backward<true>(dx, dy, x, n, max_pooling2d_1_geom, true);" in src


@pytest.mark.parametrize("data_format", FORMATS)
def test_max_pool_tie_routes_to_first_max(data_format):
    """Every pixel of the 2x2 window has the same pre-pool value (exact dyadic sums), but
    each came from different inputs: d kernel shows which pixel got the gradient."""
    if data_format == "channels_last":      # (2, 2, 2) --Dense(1) sums the 2 channels--> (2, 2, 1)
        x = np.array([[[[0.25, 0.75], [0.5, 0.5]], [[0.125, 0.875], [0.75, 0.25]]]], np.float32)
        kernel = np.ones((2, 1), np.float32)
    else:                                   # (1, 2, 4) --Dense(2): cols 0+2, 1+3--> (1, 2, 2)
        x = np.array([[[[0.25, 0.5, 0.75, 0.5], [0.125, 0.375, 0.875, 0.625]]]], np.float32)
        kernel = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32)
    inp = Input(shape=x.shape[1:])
    pre = Dense(kernel.shape[1], use_bias=False, name="pre")
    pooled = MaxPooling2D((2, 2), data_format=data_format)(pre(inp))
    out = Dense(1, use_bias=False, name="head")(Flatten()(pooled))
    model = Model(inp, out)
    model.compile("sgd", "mse")
    pre.set_weights([kernel])
    model.get_layer("head").set_weights([np.array([[2.0]], np.float32)])
    y = np.zeros((1, 1), np.float32)
    z = x.astype(np.float64) @ kernel
    assert np.all(z == 1.0)
    dpred = 2 * (2.0 - 0.0)                                  # d mse / d pred, pred = 2 * 1
    dz = max_pool_backward_ref(z, np.full((1, 1, 1, 1), dpred * 2.0), (2, 2),
                               data_format=data_format)
    want = np.einsum("nhwk,nhwj->kj", x, dz)                # d kernel = sum x^T dz
    last = np.einsum("nhwk,nhwj->kj", x, dz[:, ::-1, ::-1])  # a last-max rule would differ
    assert not np.allclose(want, last)
    _, grads = model._native.gradients(model._x(x), model._y(y))
    np.testing.assert_allclose(grads["pre/kernel"], want, rtol=1e-6)


def test_pool_on_a_model_input_needs_no_input_gradient():
    """Nothing upstream is trainable: the pool has no backward at all, training still runs."""
    inp = Input(shape=(4, 4, 1))
    out = Dense(1)(Flatten()(MaxPooling2D()(inp)))
    model = Model(inp, out)
    model.compile("sgd", "mse")
    x = image(np.random.default_rng(6), (4, 4, 1), n=8)
    model.fit(x, np.zeros((8, 1), np.float32), epochs=1, batch_size=4, verbose=0)
    assert "max_pooling2d_1_forward(" in model._native.source
    assert "max_pooling2d_1_backward" not in model._native.source


# -- layout inference ------------------------------------------------------------------------
def test_convolution2d_then_bare_pool_is_channels_first():
    digit = Input(shape=(1, 27, 27))                      # the guide's shared vision model
    x = Convolution2D(64, 3, 3)(digit)
    x = Convolution2D(64, 3, 3)(x)
    pool = MaxPooling2D((2, 2))
    x = pool(x)
    assert pool.data_format == "channels_first"
    assert x.shape == (None, 64, 11, 11) and x._kcc_layout == "channels_first"
    assert Flatten()(x).shape == (None, 64 * 11 * 11)


def test_conv2d_then_pool_is_channels_last():
    x = Conv2D(8, (3, 3))(Input(shape=(27, 27, 1)))
    pool = MaxPooling2D((2, 2))
    assert pool(x).shape == (None, 12, 12, 8)
    assert pool.data_format == "channels_last"


def test_explicit_data_format_wins_over_the_input_layout():
    x = Convolution2D(4, 3, 3)(Input(shape=(1, 9, 9)))   # (None, 4, 7, 7), channels_first
    assert MaxPooling2D((2, 2), data_format="channels_last")(x).shape == (None, 2, 3, 7)
    assert MaxPooling2D((2, 2), dim_ordering="tf")(x).shape == (None, 2, 3, 7)
    assert GlobalAveragePooling2D(data_format="channels_last")(x).shape == (None, 7)


def test_keras1_spelling_on_an_input_is_channels_first():
    img = Input(shape=(3, 256, 256))                     # the guide's Inception tower_3
    t3 = MaxPooling2D((3, 3), strides=(1, 1), border_mode="same")(img)
    assert t3.shape == (None, 3, 256, 256) and t3._kcc_layout == "channels_first"
    assert MaxPooling2D((2, 2), dim_ordering="th")(img).shape == (None, 3, 128, 128)
    assert MaxPooling2D((2, 2), dim_ordering="default")(img).shape == (None, 3, 128, 128)


def test_on_an_input_the_global_default_applies():
    img = Input(shape=(4, 6, 3))
    assert MaxPooling2D((2, 2))(img).shape == (None, 2, 3, 3)
    kcc.backend.set_image_data_format("channels_first")
    try:
        pool = AveragePooling2D((2, 2))
        assert pool(img).shape == (None, 4, 3, 1)
        assert pool.data_format == "channels_first"
    finally:
        kcc.backend.set_image_data_format("channels_last")


def test_layout_carried_by_the_input_tensor():
    img = Input(shape=(3, 8, 6))
    img._kcc_layout = "channels_first"                    # as a conv output would carry it
    out = MaxPooling2D((2, 2))(img)
    assert out.shape == (None, 3, 4, 3) and out._kcc_layout == "channels_first"
    again = AveragePooling2D((2, 2))(out)                # and the pool passes it on
    assert again.shape == (None, 3, 2, 1)
    assert GlobalMaxPooling2D()(out).shape == (None, 3)
    assert not hasattr(GlobalMaxPooling2D()(out), "_kcc_layout")        # a vector, no image
    assert GlobalMaxPooling2D(keepdims=True)(out)._kcc_layout == "channels_first"


def test_the_first_call_fixes_the_layout():
    pool = MaxPooling2D((2, 2))
    cf = Input(shape=(2, 8, 8))
    cf._kcc_layout = "channels_first"
    assert pool(cf).shape == (None, 2, 4, 4)
    assert pool(Input(shape=(2, 8, 8))).shape == (None, 2, 4, 4)


def test_guide_vqa_vision_model_shapes():
    vision = Sequential()
    vision.add(Convolution2D(8, 3, 3, activation="relu", border_mode="same",
                             input_shape=(3, 32, 32)))
    vision.add(Convolution2D(8, 3, 3, activation="relu"))
    vision.add(MaxPooling2D((2, 2)))
    vision.add(Convolution2D(16, 3, 3, activation="relu"))
    vision.add(MaxPooling2D((2, 2)))
    vision.add(Flatten())
    assert vision.output_shape == (None, 16 * 6 * 6)
    assert vision.layers[2].data_format == "channels_first"


def test_auto_names_and_config():
    assert MaxPooling2D().name == "max_pooling2d_1"
    assert AveragePooling2D().name == "average_pooling2d_1"
    assert GlobalAveragePooling2D().name == "global_average_pooling2d_1"
    config = MaxPooling2D(3, padding="SAME", data_format="channels_first").get_config()
    assert config["pool_size"] == (3, 3) and config["strides"] == (3, 3)
    assert config["padding"] == "same" and config["data_format"] == "channels_first"
    assert kcc.layers.MaxPool2D is MaxPooling2D


# -- errors ----------------------------------------------------------------------------------
def test_rank_must_be_4():
    with pytest.raises(ValueError, match=r"max_pooling2d_1 expects 4D inputs.*\(None, 8, 3\)"):
        MaxPooling2D()(Input(shape=(8, 3)))
    with pytest.raises(ValueError, match="global_max_pooling2d_1 expects 4D"):
        GlobalMaxPooling2D()(Input(shape=(8,)))


def test_valid_window_larger_than_the_image():
    with pytest.raises(ValueError) as e:
        MaxPooling2D((3, 3), name="p")(Input(shape=(2, 5, 4)))
    msg = str(e.value)
    assert "Layer p" in msg and "(3, 3)" in msg and "(2, 5)" in msg and "padding='same'" in msg
    assert MaxPooling2D((3, 3), padding="same")(Input(shape=(2, 5, 4))).shape == (None, 1, 2, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(pool_size=0), "pool_size"),
    (dict(pool_size=(2, 2, 2)), "pool_size"),
    (dict(strides=(1, -1)), "strides"),
    (dict(padding="full"), "padding"),
    (dict(data_format="NCHW"), "data_format"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaxPooling2D(**kwargs)


def test_both_spellings_of_one_argument():
    with pytest.raises(TypeError, match="border_mode"):
        MaxPooling2D(padding="same", border_mode="same")
    with pytest.raises(TypeError, match="dim_ordering"):
        AveragePooling2D(data_format="channels_last", dim_ordering="tf")
