"""Conv2D by Winograd F(4, r): when the lowering picks it, and that it computes what the
direct convolution does, forward and backward.

Stride-1, undilated 3x3 and 5x5 layers with at least 16 input and output channels (and at
least 4 output rows and columns) run Winograd F(4, 3) / F(4, 5) (kcc/layers/winograd.py,
kcc/ops/winograd.h) instead of the im2col / shifted GEMM. What is checked:

* the lowering: `winograd` is 4 exactly for those layers, 0 for every other kernel, stride,
  dilation, channel count, tiny output, and with KCC_WINOGRAD=0 (read when lowering);
* the forward against the float64 numpy convolution of tests/layers/test_conv2d.py, in
  both data formats, on images that are not multiples of the 4x4 tile, on 16..20 channels
  (the 16-lane loops and their leftovers), with and without bias, several activations,
  and on a batch that needs several bands of tile rows (a band starting mid-image);
* the gradients (kernel, bias, and the input gradient, which reaches the layer below)
  against the same model lowered with KCC_WINOGRAD=0, whose GEMM path
  tests/layers/test_conv2d.py checks against finite differences; also when a Winograd layer
  is shared (its kernel and input gradients accumulate), when it writes a slice of a
  channels concatenation (a sample stride other than its own size) and when its backward
  runs in several bands;
* training: fit lowers the loss, the same start trained through the GEMM path ends at the
  same weights, and the trained weights predict the same through either path.

Winograd's fp32 error is about 1e-5 of the output's scale (F(4, 5)'s more than F(4, 3)'s),
so results are compared with a tolerance relative to the reference's largest magnitude (the
pre-activation's, for squashing activations); a wrong tile, lane, band or stride is off by
orders of magnitude more (a kernel gradient that read its data tiles R columns apart
instead of 4 was off by ~100% here). A compile costs about a second, so cases share models
where they can: the forward cases are branches of one model per data format, and one
gradient model holds a 3x3 and a 5x5 Winograd layer.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import kcc
from kcc.graph.trace import lower
from kcc.layers import Conv2D, Dense, Flatten, Input, add, concatenate
from kcc.models import Model

FWD_TOL = 2e-5       # forward: max |error| <= FWD_TOL * max |reference (pre-activation)|
GRAD_TOL = 1e-4      # gradients: max |error| <= GRAD_TOL * max |GEMM path's gradient|
TRAIN_TOL = 3e-3     # 64 Adam steps from one start: the weights' changes through either path
                     # (Adam magnifies rounding: built at -O1, the paths differ by 1.6e-3)


def _conv2d_tests():
    """tests/layers/test_conv2d.py as a module, for its numpy reference and helpers (pytest's
    importlib mode puts no test folder on sys.path)."""
    path = Path(__file__).with_name("test_conv2d.py")
    spec = importlib.util.spec_from_file_location("_kcc_test_conv2d_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ref = _conv2d_tests()
CF, CL = _ref.CF, _ref.CL
conv_ref, image_shape, randomize = _ref.conv_ref, _ref.image_shape, _ref.randomize


@pytest.fixture(autouse=True)
def _winograd_on(monkeypatch):
    """Whatever the caller's environment says, Winograd is on unless a test turns it off."""
    monkeypatch.delenv("KCC_WINOGRAD", raising=False)


# -- helpers -----------------------------------------------------------------------------------
def winograd_ops(model):
    """The compiled model's conv ops that run Winograd."""
    return [op for op in model._native.graph.ops if op.family == "conv2d" and op.attrs["winograd"]]


def compile_gemm(model, monkeypatch, **kwargs):
    """Compile with Winograd off (KCC_WINOGRAD is read when lowering)."""
    with monkeypatch.context() as mp:
        mp.setenv("KCC_WINOGRAD", "0")
        model.compile(**kwargs)
    assert not winograd_ops(model)


def assert_close_scaled(got, want, tol, what, scale=None):
    """max |got - want| <= tol * scale, scale = max |want| unless given (the pre-activation's
    for a squashing activation: Winograd's error is made before it), and not ~0."""
    scale = float(np.max(np.abs(want))) if scale is None else scale
    assert scale > 1e-3, f"{what}: the reference is ~0 (max {scale:.3g}): the check is empty"
    err = float(np.max(np.abs(np.asarray(got, np.float64) - want)))
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:g} * {scale:.3g}"


def compare_gradients(make, x, y, monkeypatch, expect_winograd=1):
    """Native gradients of every weight, Winograd against KCC_WINOGRAD=0, same weights.
    `make()` builds the model afresh; returns the Winograd model."""
    rng = np.random.default_rng(11)
    wino, gemm = make(), make()
    wino.compile(optimizer="sgd", loss="mse")
    assert len(winograd_ops(wino)) == expect_winograd
    compile_gemm(gemm, monkeypatch, optimizer="sgd", loss="mse")
    randomize(wino, rng)
    gemm.set_weights(wino.get_weights())
    sums_w, g_w = wino._native.gradients(wino._x(x), wino._y(y))
    sums_g, g_g = gemm._native.gradients(gemm._x(x), gemm._y(y))
    assert abs(sums_w[0] - sums_g[0]) <= 1e-5 * abs(sums_g[0])
    assert len(g_w) == len(g_g) == len(wino.weights)
    for vw, vg in zip(wino.weights, gemm.weights):
        assert g_w[vw.path].shape == g_g[vg.path].shape
        assert_close_scaled(g_w[vw.path], g_g[vg.path], GRAD_TOL, f"gradient of {vw.path}")
    return wino


# -- 1. the lowering picks Winograd exactly when it should -------------------------------------
LOWER_CASES = [  # (channels, filters, kernel, strides, dilation, padding, (h, w), winograd)
    (16, 16, 3, 1, 1, "same", (8, 8), 4),
    (16, 16, 5, 1, 1, "valid", (8, 8), 4),          # 4x4 output: one tile, still Winograd
    (20, 18, 3, 1, 1, "valid", (11, 13), 4),
    (32, 16, (3, 3), (1, 1), (1, 1), "same", (9, 7), 4),
    (16, 16, 3, 2, 1, "same", (16, 16), 0),          # stride 2
    (16, 16, 3, (1, 2), 1, "same", (16, 16), 0),     # stride 2 one way
    (16, 16, 3, 1, 2, "same", (16, 16), 0),          # dilation 2
    (16, 16, 1, 1, 1, "same", (16, 16), 0),          # 1x1
    (16, 16, 7, 1, 1, "same", (16, 16), 0),          # no F(4, 7)
    (16, 16, (2, 3), 1, 1, "same", (16, 16), 0),     # not square
    (16, 16, (3, 5), 1, 1, "same", (16, 16), 0),
    (3, 16, 3, 1, 1, "same", (16, 16), 0),           # 3 input channels
    (15, 16, 3, 1, 1, "same", (16, 16), 0),          # one channel short
    (16, 15, 3, 1, 1, "same", (16, 16), 0),          # one filter short
    (16, 16, 3, 1, 1, "valid", (5, 16), 0),          # 3 output rows < the 4-row tile
    (16, 16, 5, 1, 1, "valid", (16, 7), 0),          # 3 output columns
]


@pytest.mark.parametrize("data_format", [CF, CL])
@pytest.mark.parametrize("c,f,kernel,strides,dilation,padding,hw,want", LOWER_CASES)
def test_lowering_picks_winograd(data_format, c, f, kernel, strides, dilation, padding, hw,
                                 want):
    inp = Input(shape=image_shape(data_format, c, *hw))
    conv = Conv2D(f, kernel, strides=strides, dilation_rate=dilation, padding=padding,
                  data_format=data_format)
    (op,) = lower(Model(inp, conv(inp))).ops
    assert op.attrs["winograd"] == want
    if not want:
        assert op.attrs["wg_fwd"] == op.attrs["wg_dx"] == ()
        assert not any(k.startswith("wino_") for k in op.workspace)
        return
    ho, wo = op.attrs["out_rows"], op.attrs["out_cols"]
    fwd = op.attrs["wg_fwd"]
    assert fwd[:6] == (c, hw[0], hw[1], f, ho, wo)
    assert fwd[8:10] == (-(-ho // 4), -(-wo // 4))   # tile rows and columns per image
    assert fwd[10] >= 1
    assert op.attrs["wg_dx"][:6] == (f, ho, wo, c, hw[0], hw[1])   # the forward run backwards
    assert op.attrs["shifted"] is False
    assert {"wino_strip", "wino_v", "wino_m", "wino_out", "wino_u"} <= set(op.workspace)


def test_kcc_winograd_0_turns_it_off(monkeypatch):
    inp = Input(shape=(8, 8, 16))
    model = Model(inp, Conv2D(16, 3, padding="same", data_format=CL)(inp))
    assert lower(model).ops[0].attrs["winograd"] == 4
    monkeypatch.setenv("KCC_WINOGRAD", "0")
    assert lower(model).ops[0].attrs["winograd"] == 0
    monkeypatch.setenv("KCC_WINOGRAD", "1")
    assert lower(model).ops[0].attrs["winograd"] == 4


# -- 2. forward against numpy ------------------------------------------------------------------
FORWARD_CASES = [  # (r, padding, (h, w), channels, filters, activation, use_bias)
    (3, "same", (11, 13), 20, 18, "relu", True),
    (3, "valid", (37, 9), 16, 17, "tanh", False),
    (3, "valid", (6, 6), 16, 16, "linear", True),    # exactly one 4x4 output tile
    (3, "same", (9, 10), 16, 19, "softmax", True),   # over the last axis, as Keras
    (5, "same", (37, 9), 17, 16, "linear", True),
    (5, "valid", (11, 13), 20, 18, "relu", False),
    (5, "valid", (8, 8), 16, 16, "tanh", True),      # exactly one 4x4 output tile
]


@pytest.mark.parametrize("data_format", [CF, CL])
def test_forward_matches_numpy(data_format):
    """Every case of FORWARD_CASES as one branch of one model (one compile), each checked."""
    rng = np.random.default_rng(1)
    inputs, convs = [], []
    for r, padding, hw, c, f, activation, use_bias in FORWARD_CASES:
        inputs.append(Input(shape=image_shape(data_format, c, *hw)))
        convs.append(Conv2D(f, r, padding=padding, data_format=data_format,
                            activation=activation, use_bias=use_bias))
    model = Model(inputs, [conv(inp) for conv, inp in zip(convs, inputs)])
    assert [op.attrs["winograd"] for op in lower(model).ops] == [4] * len(FORWARD_CASES)
    p = randomize(model, rng)
    xs = [rng.normal(size=(3,) + tuple(inp.shape[1:])).astype(np.float32) for inp in inputs]
    outs = model.predict(xs)
    failures = []
    for case, conv, x, got in zip(FORWARD_CASES, convs, xs, outs):
        _, padding, _, _, _, activation, use_bias = case
        kernel, bias = p[conv.kernel.path], p[conv.bias.path] if use_bias else None
        pre = conv_ref(x.astype(np.float64), kernel, bias, data_format, padding=padding)
        want = conv_ref(x.astype(np.float64), kernel, bias, data_format, padding=padding,
                        activation=activation)
        try:
            assert got.shape == want.shape
            assert_close_scaled(got, want, FWD_TOL, f"forward {case}",
                                scale=float(np.max(np.abs(pre))))
        except AssertionError as e:
            failures.append(str(e).splitlines()[0])
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("data_format", [CF, CL])
def test_forward_batch_spans_several_bands(data_format):
    """64 channels on 64x64: a band holds fewer tile rows than the batch (and not a whole
    number of images), so bands start mid-image and end in the next one."""
    rng = np.random.default_rng(3)
    n, shape = 5, image_shape(data_format, 64, 64, 64)
    inp = Input(shape=shape)
    conv = Conv2D(64, 3, padding="same", data_format=data_format)
    model = Model(inp, conv(inp))
    (op,) = lower(model).ops
    tile_rows, band = op.attrs["wg_fwd"][8], op.attrs["wg_fwd"][10]
    assert op.attrs["winograd"] == 4 and band < n * tile_rows and band % tile_rows
    p = randomize(model, rng)
    x = rng.normal(size=(n,) + shape).astype(np.float32)
    want = conv_ref(x.astype(np.float64), p[conv.kernel.path], p[conv.bias.path],
                    data_format, padding="same")
    assert_close_scaled(model.predict(x), want, FWD_TOL, "forward")


# -- 3. gradients against the GEMM path --------------------------------------------------------
@pytest.mark.parametrize("data_format", [CF, CL])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_gradients_match_gemm_path(data_format, padding, monkeypatch):
    """GEMM conv (3 channels) -> Winograd 3x3 -> Winograd 5x5 -> dense: each Winograd
    layer's input gradient is checked through the kernel gradient of the layer below it
    (11x10 valid: 9x8, then 5x4 outputs)."""
    rng = np.random.default_rng(5)
    shape = image_shape(data_format, 3, 11, 10)

    def make():
        inp = Input(shape=shape)
        h = Conv2D(16, 3, padding="same", activation="tanh", data_format=data_format)(inp)
        h = Conv2D(20, 3, padding=padding, activation="tanh", data_format=data_format)(h)
        h = Conv2D(18, 5, padding=padding, activation="tanh", data_format=data_format)(h)
        return Model(inp, Dense(2)(Flatten()(h)))

    x = rng.normal(size=(3,) + shape).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)
    model = compare_gradients(make, x, y, monkeypatch, expect_winograd=2)
    assert sorted(op.attrs["kernel"] for op in winograd_ops(model)) == [(3, 3), (5, 5)]


@pytest.mark.parametrize("data_format", [CF, CL])
def test_shared_winograd_conv_accumulates(data_format, monkeypatch):
    """One Winograd conv applied twice in a row, its input also feeding a residual add:
    the second use adds to the kernel gradient, the first adds its input gradient to the
    add's."""
    rng = np.random.default_rng(6)
    shape = image_shape(data_format, 3, 9, 10)

    def make():
        inp = Input(shape=shape)
        h = Conv2D(16, 3, padding="same", activation="tanh", data_format=data_format)(inp)
        shared = Conv2D(16, 3, padding="same", activation="tanh", data_format=data_format)
        out = add([h, shared(shared(h))])
        return Model(inp, Dense(2)(Flatten()(out)))

    x = rng.normal(size=(4,) + shape).astype(np.float32)
    y = rng.normal(size=(4, 2)).astype(np.float32)
    model = compare_gradients(make, x, y, monkeypatch, expect_winograd=2)
    acc = model._native.plans[1].accumulate
    ops = winograd_ops(model)
    assert any(acc.get((op.name, "in0")) for op in ops)                    # acc_dx
    assert any(acc.get((op.name, f"w:{op.weights[0]}")) for op in ops)    # acc_dw
    assert any(acc.get((op.name, f"w:{op.weights[1]}")) for op in ops)    # the bias's too


def test_winograd_conv_writing_a_concat_slice(monkeypatch):
    """channels_first concat on channels: the Winograd conv writes its (F, Ho, Wo) block at
    an offset of each sample's concatenated row, so its sample stride is the row's."""
    rng = np.random.default_rng(8)
    shape = (3, 10, 9)

    def make():
        inp = Input(shape=shape)
        h = Conv2D(16, 3, padding="same", activation="tanh", data_format=CF)(inp)
        side = Conv2D(4, 1, data_format=CF)(h)
        wide = Conv2D(18, 3, padding="same", activation="tanh", data_format=CF)(h)
        out = concatenate([side, wide], axis=1)
        return Model(inp, Dense(2)(Flatten()(out)))

    x = rng.normal(size=(3,) + shape).astype(np.float32)
    y = rng.normal(size=(3, 2)).astype(np.float32)
    model = compare_gradients(make, x, y, monkeypatch)
    (op,) = winograd_ops(model)
    value = model._native.graph.values[op.outputs[0]]
    assert value.slice_offset == 4 * 10 * 9          # after `side`'s channels


@pytest.mark.parametrize("data_format", [CF, CL])
def test_gradients_in_several_bands(data_format, monkeypatch):
    """64 channels on 48x48, batch 4: the forward, the input gradient and the kernel
    gradient each take several bands, which cross from one image into the next."""
    rng = np.random.default_rng(9)
    n, shape = 4, image_shape(data_format, 64, 48, 48)

    def make():
        inp = Input(shape=shape)
        h = Conv2D(64, 1, data_format=data_format)(inp)        # its kernel gradient reads dx
        h = Conv2D(64, 3, padding="same", activation="tanh", data_format=data_format)(h)
        return Model(inp, Dense(2)(Flatten()(h)))

    x = rng.normal(size=(n,) + shape).astype(np.float32)
    y = rng.normal(size=(n, 2)).astype(np.float32)
    model = compare_gradients(make, x, y, monkeypatch)
    (op,) = winograd_ops(model)
    for plan in (op.attrs["wg_fwd"], op.attrs["wg_dx"]):
        assert plan[10] < n * plan[8] and plan[10] % plan[8]


# -- 4. training -------------------------------------------------------------------------------
@pytest.mark.parametrize("data_format", [CF, CL])
def test_training_matches_gemm_path(data_format, monkeypatch):
    """A 16-channel image regression to a fixed random conv's pooled response: fit lowers
    the loss, the trained weights predict the same through the GEMM path, and training the
    same start through the GEMM path ends at the same weights (a wrong kernel gradient
    still lowers the loss, through the dense layer, but not along the same path)."""
    kcc.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    n, shape = 128, image_shape(data_format, 16, 8, 8)
    x = rng.normal(size=(n,) + shape).astype(np.float32)
    teacher = rng.normal(0.0, 1.0 / 12, size=(3, 3, 16, 2))
    y = np.tanh(conv_ref(x.astype(np.float64), teacher, None, data_format, padding="same"))
    y = y.mean(axis=(2, 3) if data_format == CF else (1, 2)).astype(np.float32) * 4.0

    def make():
        inp = Input(shape=shape)
        h = Conv2D(16, 3, padding="same", activation="relu", data_format=data_format)(inp)
        return Model(inp, Dense(2)(Flatten()(h)))

    model, gemm = make(), make()
    model.compile(optimizer="adam", loss="mse")
    assert len(winograd_ops(model)) == 1
    compile_gemm(gemm, monkeypatch, optimizer="adam", loss="mse")
    gemm.set_weights(model.get_weights())
    start = [w.copy() for w in model.get_weights()]

    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=16, epochs=8, shuffle=False, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.1 * before
    gemm.fit(x, y, batch_size=16, epochs=8, shuffle=False, verbose=0)
    for w, g, w0 in zip(model.get_weights(), gemm.get_weights(), start):
        assert_close_scaled(w - w0, g - w0, TRAIN_TOL, "trained weights' change")

    gemm.set_weights(model.get_weights())
    assert_close_scaled(model.predict(x), gemm.predict(x), FWD_TOL, "trained prediction")
