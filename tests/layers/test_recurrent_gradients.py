"""Backpropagation through time of LSTM, GRU and SimpleRNN against finite differences.

`model._native.gradients(xs, ys)` runs the generated forward + loss + backward once, with
no update, and returns d(mean loss)/d(weight) for every trainable weight. Each case
compares it with central differences (float64) of a numpy re-implementation of the whole
model (test_recurrent_forward.rnn_reference for the recurrence) and Keras's loss.
A Dense sits before the recurrent layer, so its gradient checks the layer's dx too.
Cases: every cell (LSTM, GRU with reset_after True/False, SimpleRNN), last state or the
whole sequence followed by a Dense on the last axis, forwards and backwards; a shared
LSTM used on two inputs (its gradient is the sum of both uses: the second backward adds)
through a concatenation and through two outputs; one tensor read by two recurrent
layers (their dx add up); a frozen recurrent layer that passes a gradient through.
Tolerance: 2e-3 of the largest gradient entry per weight (float32 kernels).
Also: training an LSTM on a learnable toy task lowers the loss.
"""
import os
import sys

import numpy as np
from numerics_ref import assign_normal, numeric_grad  # shared by the tests
import pytest

from kcc.layers import GRU, LSTM, Dense, Input, SimpleRNN, concatenate
from kcc.models import Model
from kcc.utils import clear_session, set_random_seed

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_recurrent_forward import CELL_IDS, CELLS, rnn_reference  # noqa: E402

N = 17        # batch rows: odd, and enough for the runtime to split it across threads
RTOL = 2e-3


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()


# -- float64 references ----------------------------------------------------------------------
def dense(p, name, x, activation="linear"):
    z = np.asarray(x, np.float64) @ p[f"{name}/kernel"] + p[f"{name}/bias"]
    return {"linear": z, "tanh": np.tanh(z), "sigmoid": 1 / (1 + np.exp(-z))}[activation]


def rnn(p, name, cell, x, **kwargs):
    bias = p.get(f"{name}/bias")
    return rnn_reference(cell, x, p[f"{name}/kernel"], p[f"{name}/recurrent_kernel"], bias,
                         **kwargs)


def mse(pred, y):
    return float(np.mean((pred - y) ** 2))


def bce(pred, y):
    q = np.clip(pred, 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(q) + (1 - y) * np.log(1 - q))))


def randomize(model, rng, scale=1.0):
    """Kernels N(0, scale^2 / fan_in), biases N(0, 0.2^2); float64 copies by path."""
    return assign_normal(model, rng, lambda v: 0.2 if v.name == "bias" else scale / np.sqrt(v.shape[0]))


def check_gradients(model, x, y, total, what):
    """Native loss and gradients against the reference loss `total(params)` and its
    central differences, for every trainable weight."""
    params = {v.path: v.numpy().astype(np.float64) for v in model.weights}
    sums, native = model._native.gradients(model._x(x), model._y(y))
    n = len(x[0]) if isinstance(x, list) else len(x)
    expected = total(params)
    assert abs(sums[0] / n - expected) <= 1e-5 * abs(expected) + 1e-6, \
        f"{what}: loss {sums[0] / n} != reference {expected}"
    reference = numeric_grad(total, params)
    assert sorted(native) == sorted(v.path for v in model.trainable_weights), what
    for key, got in native.items():
        ref = reference[key]
        scale = float(np.max(np.abs(ref)))
        if scale == 0:            # a one-step sequence never uses the recurrent kernel
            assert np.all(got == 0), f"{what}: gradient of {key} should be zero"
            continue
        assert scale > 1e-4, f"{what}: gradient of {key} vanishes; make the case livelier"
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=RTOL * scale + 1e-7,
                                   err_msg=f"{what}: gradient of {key}")
    return native


# -- one layer, every cell -----------------------------------------------------------------
@pytest.mark.parametrize("cell, cls, kwargs", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
def test_gradients_of_weights_and_input(cell, cls, kwargs, return_sequences, go_backwards):
    """Input (5, 3) -> Dense(4, tanh) -> cell(6) -> Dense(2) (on every step with
    return_sequences) -> mse."""
    rng = np.random.default_rng(20)
    inp = Input(shape=(5, 3))
    layer = cls(6, return_sequences=return_sequences, go_backwards=go_backwards, **kwargs)
    out = Dense(2, name="head")(layer(Dense(4, activation="tanh", name="pre")(inp)))
    model = Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    randomize(model, rng, scale=1.5)
    x = rng.normal(0.0, 1.0, (N, 5, 3)).astype(np.float32)
    y = rng.normal(0.0, 1.0, (N,) + out.shape[1:]).astype(np.float32)

    def total(p):
        h = rnn(p, layer.name, cell, dense(p, "pre", x, "tanh"),
                return_sequences=return_sequences, go_backwards=go_backwards, **kwargs)
        return mse(dense(p, "head", h), y)

    check_gradients(model, x, y, total, f"{layer.name} {kwargs}")


@pytest.mark.parametrize("cell, cls, kwargs", CELLS, ids=CELL_IDS)
def test_gradients_without_bias_other_activations_one_step_and_long(cell, cls, kwargs):
    rng = np.random.default_rng(21)
    gated = cls is not SimpleRNN
    acts = {"activation": "relu", **({"recurrent_activation": "hard_sigmoid"} if gated else {})}
    for steps, extra in ((1, {}), (3, acts), (30, {})):
        clear_session()
        inp = Input(shape=(steps, 3))
        layer = cls(4, use_bias=steps != 3, return_sequences=True, **extra, **kwargs)
        out = Dense(1, name="head")(layer(Dense(3, activation="tanh", name="pre")(inp)))
        model = Model(inp, out)
        model.compile(optimizer="sgd", loss="mse")
        randomize(model, rng, scale=1.2)
        x = rng.normal(0.0, 1.0, (9, steps, 3)).astype(np.float32)
        y = rng.normal(0.0, 1.0, (9, steps, 1)).astype(np.float32)

        def total(p):
            h = rnn(p, layer.name, cell, dense(p, "pre", x, "tanh"), return_sequences=True,
                    **extra, **kwargs)
            return mse(dense(p, "head", h), y)

        check_gradients(model, x, y, total, f"{cell} {kwargs} T={steps} {extra}")


# -- graphs: sharing, fan-out, frozen ------------------------------------------------------------
def test_shared_lstm_on_two_inputs_through_a_concatenation():
    """Model([a, b], Dense(1, sigmoid)(concatenate([lstm(Dense(a)), lstm(b)]))): the LSTM's
    gradient is the sum of both uses; only the first use needs dx."""
    rng = np.random.default_rng(30)
    a, b = Input(shape=(6, 3)), Input(shape=(6, 4))
    lstm = LSTM(5, name="shared")
    encoded_a = lstm(Dense(4, activation="tanh", name="pre")(a))
    encoded_b = lstm(b)
    out = Dense(1, activation="sigmoid", name="head")(concatenate([encoded_a, encoded_b]))
    model = Model([a, b], out)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    randomize(model, rng, scale=1.5)
    xa = rng.normal(0.0, 1.0, (N, 6, 3)).astype(np.float32)
    xb = rng.normal(0.0, 1.0, (N, 6, 4)).astype(np.float32)
    y = rng.integers(0, 2, (N, 1)).astype(np.float32)

    def total(p):
        ea = rnn(p, "shared", "lstm", dense(p, "pre", xa, "tanh"))
        eb = rnn(p, "shared", "lstm", xb)
        return bce(dense(p, "head", np.concatenate([ea, eb], axis=-1), "sigmoid"), y)

    native = check_gradients(model, [xa, xb], y, total, "shared LSTM, concatenated")
    # not vacuous: use b alone (use a held fixed) gives another gradient than the sum
    p = {v.path: v.numpy().astype(np.float64) for v in model.weights}
    ea = rnn(p, "shared", "lstm", dense(p, "pre", xa, "tanh"))

    def use_b_only(q):
        eb = rnn(q, "shared", "lstm", xb)
        return bce(dense(p, "head", np.concatenate([ea, eb], axis=-1), "sigmoid"), y)

    only_b = numeric_grad(use_b_only, {k: v for k, v in p.items() if k.startswith("shared")})
    assert not np.allclose(native["shared/kernel"], only_b["shared/kernel"], rtol=0.05)


def test_shared_lstm_on_two_inputs_with_two_outputs():
    rng = np.random.default_rng(31)
    a, b = Input(shape=(4, 3)), Input(shape=(4, 3))
    lstm = LSTM(5, name="shared", go_backwards=True)
    outs = [Dense(1, activation="sigmoid", name="head_a")(lstm(Dense(3, name="pre")(a))),
            Dense(1, activation="sigmoid", name="head_b")(lstm(b))]
    model = Model([a, b], outs)
    model.compile(optimizer="sgd", loss="binary_crossentropy", loss_weights=[1.0, 0.5])
    randomize(model, rng, scale=1.5)
    xa, xb = (rng.normal(0.0, 1.0, (N, 4, 3)).astype(np.float32) for _ in range(2))
    ya, yb = (rng.integers(0, 2, (N, 1)).astype(np.float32) for _ in range(2))

    def total(p):
        ea = rnn(p, "shared", "lstm", dense(p, "pre", xa), go_backwards=True)
        eb = rnn(p, "shared", "lstm", xb, go_backwards=True)
        return bce(dense(p, "head_a", ea, "sigmoid"), ya) + 0.5 * bce(
            dense(p, "head_b", eb, "sigmoid"), yb)

    check_gradients(model, [xa, xb], [ya, yb], total, "shared LSTM, two outputs")


def test_one_sequence_read_by_two_recurrent_layers():
    """A bidirectional-style pair: the Dense before both gets the sum of their dx."""
    rng = np.random.default_rng(32)
    inp = Input(shape=(5, 3))
    h = Dense(4, activation="tanh", name="pre")(inp)
    fwd, bwd = LSTM(3, name="fwd"), GRU(3, go_backwards=True, name="bwd")
    out = Dense(1, activation="sigmoid", name="head")(concatenate([fwd(h), bwd(h)]))
    model = Model(inp, out)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    randomize(model, rng, scale=1.5)
    x = rng.normal(0.0, 1.0, (N, 5, 3)).astype(np.float32)
    y = rng.integers(0, 2, (N, 1)).astype(np.float32)

    def total(p):
        hh = dense(p, "pre", x, "tanh")
        both = np.concatenate([rnn(p, "fwd", "lstm", hh),
                               rnn(p, "bwd", "gru", hh, go_backwards=True)], axis=-1)
        return bce(dense(p, "head", both, "sigmoid"), y)

    check_gradients(model, x, y, total, "fan-out into two recurrent layers")


def test_frozen_recurrent_layer_passes_the_gradient_through():
    rng = np.random.default_rng(33)
    inp = Input(shape=(5, 3))
    layer = GRU(4, name="frozen", trainable=False, return_sequences=True)
    out = Dense(2, name="head")(layer(Dense(3, activation="tanh", name="pre")(inp)))
    model = Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    randomize(model, rng, scale=1.5)
    x = rng.normal(0.0, 1.0, (N, 5, 3)).astype(np.float32)
    y = rng.normal(0.0, 1.0, (N, 5, 2)).astype(np.float32)
    p = {v.path: v.numpy().astype(np.float64) for v in model.weights}

    def total(q):
        full = {**p, **q}
        return mse(dense(full, "head", rnn(full, "frozen", "gru", dense(full, "pre", x, "tanh"),
                                           return_sequences=True)), y)

    _, native = model._native.gradients(model._x(x), model._y(y))
    assert sorted(native) == ["head/bias", "head/kernel", "pre/bias", "pre/kernel"]
    reference = numeric_grad(total, {k: v for k, v in p.items() if not k.startswith("frozen")})
    for key, got in native.items():
        scale = float(np.max(np.abs(reference[key])))
        np.testing.assert_allclose(got, reference[key], rtol=RTOL, atol=RTOL * scale,
                                   err_msg=key)


# -- training ------------------------------------------------------------------------------------
def test_lstm_learns_the_sign_of_a_sum():
    """Is the sum of a sequence positive? An LSTM learns it; the loss must fall a lot."""
    set_random_seed(1)
    rng = np.random.default_rng(40)
    x = rng.normal(0.0, 1.0, (1024, 12, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)[:, None]
    inp = Input(shape=(12, 1))
    model = Model(inp, Dense(1, activation="sigmoid")(LSTM(8)(inp)))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert after[0] < 0.35 * before[0] and after[1] > 0.9, (before, after)
