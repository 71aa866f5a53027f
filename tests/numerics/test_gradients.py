"""Backward numerics of single chains: every activation, every loss, the probability clip.

`model._native.gradients(xs, ys)` runs the generated forward + loss + backward once, with
no update, and returns d(mean loss over the batch)/d(weight) for every trainable weight.
Each case compares it (numerics_ref.check_gradients) with
- central finite differences of a float64 numpy re-implementation of the same forward
  pass and of Keras's loss (kcc.losses references: clip to [1e-7, 1 - 1e-7], categorical
  crossentropy renormalizes its input), which checks the whole chain end to end; and
- an analytic float64 backprop (numerics_ref.Tape), which pins each local rule.
Cases, on 5 -> Dense(4, a) -> Dense(3, b): every activation a of the hidden layer; every
loss, on the fused paths (softmax + categorical/sparse crossentropy, sigmoid + binary
crossentropy, also when an Activation layer carries the softmax/sigmoid) and the unfused
ones (categorical crossentropy on sigmoid, sparse on sigmoid, binary crossentropy on
hard_sigmoid and softmax, mse on softmax, regression losses on linear outputs); outputs
held at the probability clip, where Keras's loss is flat and its gradient zero;
label_smoothing on the fused paths (loss and d loss / d logits written out in numpy); the
gradient is a batch mean; a frozen layer gets no gradient but passes one through.
Tolerance: 2e-3 of the largest gradient entry per weight (float32 kernels).
"""
import numpy as np
import pytest

import numerics_ref as ref
from kcc import losses
from kcc.layers import Activation, Dense, Input
from kcc.models import Model

N = 7          # batch rows (odd on purpose: no accidental symmetry with widths)


def _mlp(hidden_act, head_act, units=3, head_layer=None):
    """5 -> Dense(4, hidden_act) -> Dense(units, head_act) [-> Activation(head_layer)]."""
    inp = Input(shape=(5,))
    h = Dense(4, activation=hidden_act, name="hidden")(inp)
    out = Dense(units, activation=head_act, name="head")(h)
    if head_layer is not None:
        out = Activation(head_layer, name="head_act")(out)
    return Model(inp, out)


def _mlp_forward(tape_or_p, x, hidden_act, head_act, head_layer=None):
    d = tape_or_p.dense if isinstance(tape_or_p, ref.Tape) else (
        lambda name, xx, a: ref.dense(tape_or_p, name, xx, a))
    out = d("head", d("hidden", x, hidden_act), head_act)
    return ref.act(head_layer, out) if head_layer is not None else out


@pytest.mark.parametrize("hidden_act", ref.ACTIVATIONS)
def test_every_hidden_activation(hidden_act):
    rng = np.random.default_rng(100)
    model = _mlp(hidden_act, "softmax")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    ref.randomize(model, rng, scale=2.0)
    x = rng.normal(size=(N, 5)).astype(np.float32)
    y = ref.targets("categorical_crossentropy", rng, N, 3)

    def analytic(p):
        tape = ref.Tape(p)
        out = _mlp_forward(tape, x, hidden_act, "softmax")
        return tape.backward({id(out): ref.loss_grad("categorical_crossentropy", y, out)})[0]

    ref.check_gradients(model, x, y, lambda p: [_mlp_forward(p, x, hidden_act, "softmax")],
                        ["categorical_crossentropy"], analytic=analytic, what=hidden_act)


# (loss, head Dense activation, Activation layer after the head or None)
LOSS_CASES = [
    ("categorical_crossentropy", "softmax", None),                # fused
    ("sparse_categorical_crossentropy", "softmax", None),         # fused
    ("binary_crossentropy", "sigmoid", None),                     # fused
    ("mean_squared_error", "linear", None),
    ("mean_absolute_error", "linear", None),
    ("categorical_crossentropy", "sigmoid", None),                # unfused
    ("sparse_categorical_crossentropy", "sigmoid", None),         # unfused
    ("categorical_crossentropy", "relu", "softmax"),              # softmax in an Activation op
    ("categorical_crossentropy", "linear", "softmax"),            # folded into Dense, then fused
    ("binary_crossentropy", "linear", "sigmoid"),                 # folded into Dense, then fused
    ("binary_crossentropy", "hard_sigmoid", None),                # unfused
    ("binary_crossentropy", "softmax", None),                     # unfused
    ("mean_squared_error", "softmax", None),                      # unfused softmax Jacobian
    ("mean_absolute_error", "relu", "tanh"),                      # unfused Activation op
]


@pytest.mark.parametrize("loss,head_act,head_layer", LOSS_CASES,
                         ids=[f"{l}-{a}" + (f"-{b}" if b else "") for l, a, b in LOSS_CASES])
def test_every_loss(loss, head_act, head_layer):
    rng = np.random.default_rng(200)
    model = _mlp("tanh", head_act, head_layer=head_layer)
    model.compile(optimizer="sgd", loss=loss)
    ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 5)).astype(np.float32)
    y = ref.targets(loss, rng, N, 3)

    def forward(p):
        return [_mlp_forward(p, x, "tanh", head_act, head_layer)]

    out = forward(ref.weights_of(model))[0]
    if "crossentropy" in loss:
        assert np.all((out > 1e-4) & (out < 1 - 1e-4)) or head_act == "hard_sigmoid", \
            "test data must stay away from the probability clip"

    def analytic(p):
        tape = ref.Tape(p)
        pre = _mlp_forward(tape, x, "tanh", head_act)
        if head_layer is None:
            return tape.backward({id(pre): ref.loss_grad(loss, y, pre)})[0]
        post = ref.act(head_layer, pre)          # the Activation layer after the head
        d_pre = ref.act_backward(head_layer, pre, ref.loss_grad(loss, y, post))
        return tape.backward({id(pre): d_pre})[0]

    ref.check_gradients(model, x, y, forward, [loss], analytic=analytic,
                        what=f"{loss} on {head_act}{'+' + head_layer if head_layer else ''}")


# Predictions outside [1e-7, 1 - 1e-7] are clipped by Keras's losses, so the loss is flat
# there: its gradient is zero for the clipped entries (Keras differentiates through the
# clip). (head Dense activation, loss, kernel row, target)
CLIP_CASES = [
    # relu outputs [1, 0, 0.5]; the true class has probability 0: loss -log(1e-7), flat
    ("relu", "categorical_crossentropy", [1.0, -1.0, 0.5], [0.0, 1.0, 0.0]),
    ("relu", "sparse_categorical_crossentropy", [1.0, -1.0, 0.5], [1]),
    # linear outputs [1.5, -0.5, 0.25]: the first two lie outside (0, 1) and are clipped
    ("linear", "binary_crossentropy", [1.5, -0.5, 0.25], [0.0, 1.0, 1.0]),
    # the fused paths (d loss / d logits straight from p and y): a saturated softmax whose
    # true class is below 1e-7 (logits [20, -10, 0]) gets no gradient ...
    ("softmax", "categorical_crossentropy", [20.0, -10.0, 0.0], [0.0, 1.0, 0.0]),
    ("softmax", "sparse_categorical_crossentropy", [20.0, -10.0, 0.0], [1]),
    # ... while one with a live true class and a clipped other class gets p - y
    ("softmax", "categorical_crossentropy", [20.0, 5.0, -20.0], [0.0, 1.0, 0.0]),
    # sigmoid(20) and sigmoid(-20) sit at the clip's bounds, sigmoid(0.25) inside it
    ("sigmoid", "binary_crossentropy", [20.0, -20.0, 0.25], [0.0, 1.0, 1.0]),
]


@pytest.mark.parametrize("head_act,loss,row,target", CLIP_CASES,
                         ids=[f"{c[1]}-{c[0]}-{k}" for k, c in enumerate(CLIP_CASES)])
def test_no_gradient_where_the_probability_clip_holds(head_act, loss, row, target):
    inp = Input(shape=(2,))
    model = Model(inp, Dense(3, activation=head_act, name="out")(inp))
    model.compile(optimizer="sgd", loss=loss)
    model.get_layer("out").set_weights([np.array([row, [0.3, 0.2, 0.1]], np.float32),
                                        np.zeros(3, np.float32)])
    x = np.array([[1.0, 0.0]], np.float32)
    y = np.array([target], np.int32 if loss.startswith("sparse") else np.float32)

    params = ref.weights_of(model)
    sums, native = ref.native_gradients(model, x, y)
    # the value: float32 reference, since 1 - 1e-7 rounds to 1 - 1.19e-7 in float32
    p32 = ref.dense(params, "out", x, head_act).astype(np.float32)
    assert sums[0] == pytest.approx(float(np.mean(losses.reference(loss, y, p32))), rel=1e-5)

    def total(p):
        return ref.loss_value(loss, y, ref.dense(p, "out", x, head_act))

    tape = ref.Tape(params)
    o = tape.dense("out", x, head_act)
    analytic = tape.backward({id(o): ref.loss_grad(loss, y, o)})[0]
    ref.assert_grads_close(native, ref.numeric_grad(total, params), what=f"clipped {loss} vs FD")
    ref.assert_grads_close(native, analytic, what=f"clipped {loss} vs analytic")


@pytest.mark.parametrize("head_act", ["softmax", "sigmoid"])
def test_label_smoothing_on_the_fused_paths(head_act):
    """label_smoothing=0.1 through the fused gradients (softmax + categorical crossentropy,
    sigmoid + binary crossentropy): the loss and d loss / d logits against the smoothed
    targets' formulas in float64, d logits reaching the head's weights as x^T dz and sum(dz)."""
    rng = np.random.default_rng(800)
    inp = Input(shape=(5,))
    model = Model(inp, Dense(3, activation=head_act, name="head")(inp))
    cls = losses.CategoricalCrossentropy if head_act == "softmax" else losses.BinaryCrossentropy
    loss = cls(label_smoothing=0.1)
    model.compile(optimizer="sgd", loss=loss)
    assert model._native.graph.losses[0].fused == head_act
    params = ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 5)).astype(np.float32)
    y = ref.targets(loss.canonical, rng, N, 3)
    ys = y.astype(np.float64) * 0.9 + (0.1 / 3 if head_act == "softmax" else 0.05)   # smoothed

    def forward(p):
        return [ref.dense(p, "head", x, head_act)]

    out = forward(params)[0]
    assert np.all((out > 1e-4) & (out < 1 - 1e-4)), "test data must stay away from the clip"
    if head_act == "softmax":       # per sample: -sum ys log p; d / d logits: (p - ys) / N
        expected = np.mean(-np.sum(ys * np.log(out), axis=1))
        rows = N
    else:                           # per sample: the mean of the 3 binary crossentropies
        expected = np.mean(-np.mean(ys * np.log(out) + (1 - ys) * np.log(1 - out), axis=1))
        rows = N * 3                # d / d logits: (p - ys) / (3 N)
    assert ref.loss_value(loss, y, out) == pytest.approx(expected, rel=1e-12)

    def analytic(p):
        dz = (forward(p)[0] - ys) / rows
        return {"head/kernel": x.astype(np.float64).T @ dz, "head/bias": dz.sum(axis=0)}

    ref.check_gradients(model, x, y, forward, [loss], analytic=analytic,
                        what=f"label_smoothing 0.1, {head_act}")


def test_gradient_is_a_batch_mean():
    """Doubling the batch by repeating it leaves the gradient unchanged."""
    rng = np.random.default_rng(700)
    model = _mlp("relu", "softmax")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    ref.randomize(model, rng)
    x = rng.normal(size=(N, 5)).astype(np.float32)
    y = ref.targets("categorical_crossentropy", rng, N, 3)
    _, once = ref.native_gradients(model, x, y)
    _, twice = ref.native_gradients(model, np.concatenate([x, x]), np.concatenate([y, y]))
    ref.assert_grads_close(twice, once, rtol=1e-5, what="repeated batch")


def test_frozen_layer_has_no_gradient_but_passes_one_through():
    rng = np.random.default_rng(800)
    inp = Input(shape=(5,))
    first = Dense(4, activation="tanh", name="first")
    second = Dense(4, activation="elu", name="second", trainable=False)
    out = Dense(3, activation="softmax", name="last")(second(first(inp)))
    model = Model(inp, out)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 5)).astype(np.float32)
    y = ref.targets("categorical_crossentropy", rng, N, 3)
    _, native = ref.native_gradients(model, x, y)
    assert sorted(native) == ["first/bias", "first/kernel", "last/bias", "last/kernel"]
    p = ref.weights_of(model)
    tape = ref.Tape(p)
    o = tape.dense("last", tape.dense("second", tape.dense("first", x, "tanh"), "elu"), "softmax")
    expected = tape.backward({id(o): ref.loss_grad("categorical_crossentropy", y, o)})[0]
    ref.assert_grads_close(native, {k: expected[k] for k in native}, what="frozen middle")
