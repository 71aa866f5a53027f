"""Merge layers: Keras 1 merge(mode=...), the Keras 2/3 functions and classes; forward
against numpy, gradients of the generated backward against float64 central differences
(numerics_ref.check_gradients), fan-in (a tensor merged with itself, or with a view of
itself), concat on middle axes, inputs that need no gradient, the max/min tie rule, and
the call-time shape errors.

Merges have no weights, so every gradient case puts Dense layers before the merge (whose
kernels then see the merge's backward) and a Dense head after it, under an mse loss.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "numerics"))
import numerics_ref as ref  # noqa: E402

from kcc.layers import (Add, Average, Concatenate, Dense, Dot, Flatten, Input,  # noqa: E402
                        Maximum, Minimum, Multiply, Reshape, Subtract, add, average,
                        concatenate, dot, maximum, merge, minimum, multiply, subtract)
from kcc.models import Model  # noqa: E402
from kcc.optimizers import Adam  # noqa: E402
from kcc.utils import clear_session  # noqa: E402

N = 5


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    yield


NUMPY = {
    "sum": lambda xs: sum(xs),
    "sub": lambda xs: xs[0] - xs[1],
    "mul": lambda xs: np.prod(np.stack(xs), axis=0),
    "ave": lambda xs: sum(xs) / len(xs),
    "max": lambda xs: np.max(np.stack(xs), axis=0),
    "min": lambda xs: np.min(np.stack(xs), axis=0),
}
FUNCTIONS = {"sum": add, "sub": subtract, "mul": multiply, "ave": average, "max": maximum,
             "min": minimum}
CLASSES = {"sum": Add, "sub": Subtract, "mul": Multiply, "ave": Average, "max": Maximum,
           "min": Minimum}


def _data(rng, *shapes):
    return [rng.normal(size=(N,) + s).astype(np.float32) for s in shapes]


# -- forward --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(NUMPY))
def test_elementwise_forward_matches_numpy(mode):
    k = 2 if mode == "sub" else 3
    ins = [Input(shape=(2, 3)) for _ in range(k)]
    model = Model(ins, FUNCTIONS[mode](ins))
    assert model.output_shape == (None, 2, 3)
    xs = _data(np.random.default_rng(1), *[(2, 3)] * k)
    np.testing.assert_allclose(model.predict(xs), NUMPY[mode](xs), rtol=1e-6, atol=1e-6)


def test_concat_and_dot_forward_match_numpy():
    a, b = Input(shape=(4,)), Input(shape=(4,))
    p, q = Input(shape=(2, 3, 4)), Input(shape=(2, 1, 4))
    outs = [concatenate([a, b, a]), dot([a, b], axes=1), Concatenate(axis=2)([p, q, p]),
            concatenate([p, p], axis=1), concatenate([p, p], axis=-1)]
    model = Model([a, b, p, q], outs)
    assert model.output_shape == [(None, 12), (None, 1), (None, 2, 7, 4), (None, 4, 3, 4),
                                  (None, 2, 3, 8)]
    xa, xb, xp, xq = _data(np.random.default_rng(2), (4,), (4,), (2, 3, 4), (2, 1, 4))
    got = model.predict([xa, xb, xp, xq])
    want = [np.concatenate([xa, xb, xa], 1), np.sum(xa * xb, 1, keepdims=True),
            np.concatenate([xp, xq, xp], 2), np.concatenate([xp, xp], 1),
            np.concatenate([xp, xp], 3)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_keras1_merge_modes_and_names():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    outs = [merge([a, b], mode=m) for m in ("sum", "mul", "ave", "max")]
    outs += [merge([a, b], mode="concat"), merge([a, b], mode="dot", dot_axes=1),
             merge([a, b], mode="concat", concat_axis=1, name="joined")]
    model = Model([a, b], outs)
    assert [l.name for l in model.layers[2:]] == [f"merge_{i}" for i in range(1, 7)] + ["joined"]
    assert isinstance(model.get_layer("merge_5"), Concatenate)
    xa, xb = _data(np.random.default_rng(3), (3,), (3,))
    got = model.predict([xa, xb])
    want = [xa + xb, xa * xb, (xa + xb) / 2, np.maximum(xa, xb), np.concatenate([xa, xb], 1),
            np.sum(xa * xb, 1, keepdims=True), np.concatenate([xa, xb], 1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    assert concatenate([a, b]).name == "concatenate_1" and add([a, b]).name == "add_1"


# -- gradients ------------------------------------------------------------------------------
def _check(model, xs, y, forward, what):
    model.compile(optimizer="sgd", loss="mse")
    ref.randomize(model, np.random.default_rng(10), scale=1.5)
    ref.check_gradients(model, xs, y, lambda p: [forward(p)], ["mean_squared_error"], what=what)


@pytest.mark.parametrize("mode", list(NUMPY))
def test_elementwise_gradients(mode):
    """3 Dense(tanh) branches (2 for subtract) -> merge -> Dense head; one branch reads a
    second model input directly too (an operand that needs no gradient)."""
    k = 2 if mode == "sub" else 3
    x, z = Input(shape=(3,)), Input(shape=(4,))
    branches = [Dense(4, activation="tanh", name=f"b{i}")(x) for i in range(k - 1)] + [z]
    out = Dense(2, name="head")(CLASSES[mode]()(branches))
    model = Model([x, z], out)
    rng = np.random.default_rng(4)
    xs = _data(rng, (3,), (4,))
    y = rng.normal(size=(N, 2)).astype(np.float32)

    def forward(p):
        hs = [ref.dense(p, f"b{i}", xs[0], "tanh") for i in range(k - 1)] + [xs[1]]
        return ref.dense(p, "head", NUMPY[mode](hs))

    _check(model, xs, y, forward, mode)


@pytest.mark.parametrize("mode", list(NUMPY))
def test_elementwise_fan_in(mode):
    """The same tensor merged with itself (and, for k = 3, a third distinct branch)."""
    x = Input(shape=(3,))
    h = Dense(4, activation="tanh", name="h")(x)
    g = Dense(4, activation="tanh", name="g")(x)
    operands = [h, h] if mode == "sub" else [h, g, h]
    out = Dense(2, name="head")(FUNCTIONS[mode](operands))
    model = Model(x, out)
    rng = np.random.default_rng(5)
    (xv,) = _data(rng, (3,))
    y = rng.normal(size=(N, 2)).astype(np.float32)

    def forward(p):
        hv = ref.dense(p, "h", xv, "tanh")
        if mode == "sub":
            return ref.dense(p, "head", NUMPY[mode]([hv, hv]))
        gv = ref.dense(p, "g", xv, "tanh")
        return ref.dense(p, "head", NUMPY[mode]([hv, gv, hv]))

    _check(model, xv, y, forward, f"{mode} fan-in")


def test_concat_gradients_with_fan_in_and_a_view():
    """concatenate([h, g, h, Reshape(h), input]): h is read three times (twice by name,
    once through a view), the model input needs no gradient."""
    x, aux = Input(shape=(3,)), Input(shape=(2,))
    h = Dense(4, activation="tanh", name="h")(x)
    g = Dense(5, activation="sigmoid", name="g")(x)
    out = Dense(2, name="head")(concatenate([h, g, h, Reshape((4,))(h), aux]))
    model = Model([x, aux], out)
    rng = np.random.default_rng(6)
    xs = _data(rng, (3,), (2,))
    y = rng.normal(size=(N, 2)).astype(np.float32)

    def forward(p):
        hv, gv = ref.dense(p, "h", xs[0], "tanh"), ref.dense(p, "g", xs[0], "sigmoid")
        return ref.dense(p, "head", np.concatenate([hv, gv, hv, hv, xs[1]], axis=1))

    _check(model, xs, y, forward, "concat fan-in")


@pytest.mark.parametrize("axis", [1, 2, -2, 3])
def test_concat_gradients_on_every_axis_of_rank4(axis):
    """Per-sample rank-3 inputs (2, ., 3) concatenated on a middle axis (and the others)."""
    x = Input(shape=(2, 3, 3))
    shapes = {1: [(2, 3, 3), (1, 3, 3)], 2: [(2, 3, 3), (2, 1, 3)], -2: [(2, 3, 3), (2, 1, 3)],
              3: [(2, 3, 3), (2, 3, 3)]}[axis]
    # branch a: Dense on the last axis; branch b: Dense on the flattened input, reshaped
    a = Dense(3, activation="tanh", name="a")(x)
    b = Dense(int(np.prod(shapes[1])), activation="tanh", name="b")(Flatten()(x))
    b = Reshape(shapes[1])(b)
    cat = Concatenate(axis=axis)([a, b, a])
    out = Dense(2, name="head")(Flatten()(cat))
    model = Model(x, out)
    rng = np.random.default_rng(7)
    (xv,) = _data(rng, (2, 3, 3))
    y = rng.normal(size=(N, 2)).astype(np.float32)

    def forward(p):
        av = ref.dense(p, "a", xv, "tanh")
        bv = ref.dense(p, "b", xv.reshape(N, -1), "tanh").reshape((N,) + shapes[1])
        c = np.concatenate([av, bv, av], axis=axis)
        return ref.dense(p, "head", c.reshape(N, -1))

    _check(model, xv, y, forward, f"concat axis {axis}")


def test_concat_on_the_middle_axis_of_rank3():
    """(None, 2, 4) and (None, 3, 4) on axis 1 -> (None, 5, 4), then Dense on the last axis."""
    x = Input(shape=(2, 3))
    a = Dense(4, activation="tanh", name="a")(x)
    b = Reshape((3, 4))(Dense(12, activation="tanh", name="b")(Flatten()(x)))
    out = Dense(1, name="head")(Flatten()(Dense(2, name="mix")(concatenate([a, b], axis=1))))
    model = Model(x, out)
    assert model.get_layer("concatenate_1").output_shape == (None, 5, 4)
    rng = np.random.default_rng(8)
    (xv,) = _data(rng, (2, 3))
    y = rng.normal(size=(N, 1)).astype(np.float32)

    def forward(p):
        av = ref.dense(p, "a", xv, "tanh")
        bv = ref.dense(p, "b", xv.reshape(N, -1), "tanh").reshape(N, 3, 4)
        mixed = ref.dense(p, "mix", np.concatenate([av, bv], axis=1))
        return ref.dense(p, "head", mixed.reshape(N, -1))

    _check(model, xv, y, forward, "concat rank-3 middle axis")


@pytest.mark.parametrize("same", [False, True], ids=["two", "fan-in"])
def test_dot_gradients(same):
    x = Input(shape=(3,))
    h = Dense(4, activation="tanh", name="h")(x)
    g = h if same else Dense(4, activation="tanh", name="g")(x)
    out = Dense(2, name="head")(Dot(axes=1)([h, g]))
    model = Model(x, out)
    rng = np.random.default_rng(9)
    (xv,) = _data(rng, (3,))
    y = rng.normal(size=(N, 2)).astype(np.float32)

    def forward(p):
        hv = ref.dense(p, "h", xv, "tanh")
        gv = hv if same else ref.dense(p, "g", xv, "tanh")
        return ref.dense(p, "head", np.sum(hv * gv, axis=1, keepdims=True))

    _check(model, xv, y, forward, f"dot {'fan-in' if same else ''}")


@pytest.mark.parametrize("mode", ["max", "min"])
def test_max_min_ties_send_the_gradient_to_the_first_input(mode):
    """Two Dense branches with equal weights tie everywhere: the first gets all the gradient."""
    x = Input(shape=(3,))
    first, second = Dense(4, name="first"), Dense(4, name="second")
    out = Dense(1, name="head")(FUNCTIONS[mode]([first(x), second(x)]))
    model = Model(x, out)
    model.compile(optimizer="sgd", loss="mse")
    ref.randomize(model, np.random.default_rng(11))
    second.set_weights(first.get_weights())
    rng = np.random.default_rng(12)
    xv = rng.normal(size=(N, 3)).astype(np.float32)
    y = rng.normal(size=(N, 1)).astype(np.float32)
    _, grads = ref.native_gradients(model, xv, y)
    assert np.abs(grads["first/kernel"]).max() > 1e-3
    assert np.all(grads["second/kernel"] == 0) and np.all(grads["second/bias"] == 0)
    # and the first branch's gradient is the whole one: as if the merge were not there
    p = ref.weights_of(model)
    tape = ref.Tape(p)
    o = tape.dense("head", tape.dense("first", xv))
    expected = tape.backward({id(o): ref.loss_grad("mean_squared_error", y, o)})[0]
    ref.assert_grads_close({k: grads[k] for k in ("first/kernel", "first/bias")},
                           {k: expected[k] for k in ("first/kernel", "first/bias")})


def test_merge_trains_end_to_end():
    """A Siamese-style model (shared Dense on two inputs, concat) learns a simple target."""
    rng = np.random.default_rng(13)
    a, b = Input(shape=(4,)), Input(shape=(4,))
    shared = Dense(8, activation="tanh")
    out = Dense(1)(concatenate([shared(a), shared(b), subtract([a, b])]))
    model = Model([a, b], out)
    model.compile(optimizer=Adam(learning_rate=0.01), loss="mse")
    xa, xb = rng.normal(size=(256, 4)), rng.normal(size=(256, 4))
    y = (xa - xb).sum(axis=1, keepdims=True)
    hist = model.fit([xa, xb], y, epochs=30, batch_size=32, verbose=0)
    assert hist.history["loss"][-1] < 0.05 * hist.history["loss"][0]


# -- errors ---------------------------------------------------------------------------------
def test_shape_errors_name_the_layer_and_the_shapes():
    a, b, c = Input(shape=(3, 4)), Input(shape=(3, 5)), Input(shape=(2, 5))
    with pytest.raises(ValueError, match=r"matching shapes except for the concatenation axis\. "
                       r"Layer concatenate_1 \(axis=1\) received: input_shape="
                       r"\[\(None, 3, 4\), \(None, 3, 5\)\]"):
        concatenate([a, b], axis=1)
    assert concatenate([a, b]).shape == (None, 3, 9)
    assert concatenate([b, c], axis=1).shape == (None, 5, 5)
    with pytest.raises(ValueError, match=r"Inputs have incompatible shapes\. Layer add_1 \(Add\).*"
                       r"\[\(None, 3, 4\), \(None, 3, 5\)\]"):
        add([a, b])
    with pytest.raises(ValueError, match=r"same rank.*concatenate_\d"):
        concatenate([a, Input(shape=(3,))])
    with pytest.raises(ValueError, match=r"cannot concatenate on axis 0"):
        concatenate([a, a], axis=0)
    with pytest.raises(ValueError, match=r"cannot concatenate on axis 3"):
        concatenate([a, a], axis=3)
    with pytest.raises(ValueError, match=r"exactly 2 inputs. Layer subtract_1 received 3"):
        subtract([a, a, a])
    with pytest.raises(ValueError, match=r"should be called on a list of inputs"):
        Add()(a)
    # an int32 input is read as floats (tests/frontend/test_int_inputs.py), as Keras does
    assert add([Input(shape=(2,)), Input(shape=(2,), dtype="int32")]).dtype == "float32"


def test_dot_limits_and_errors():
    a, b = Input(shape=(4,)), Input(shape=(5,))
    with pytest.raises(ValueError, match=r"Incompatible input shapes: axis values 4 \(at axis 1\) "
                       r"!= 5 \(at axis 1\)\. Layer dot_1"):
        dot([a, b], axes=1)
    with pytest.raises(NotImplementedError, match=r"shape \(None, D\) with axes=1"):
        dot([Input(shape=(2, 4)), Input(shape=(2, 4))], axes=2)
    with pytest.raises(NotImplementedError, match=r"normalize=True"):
        Dot(axes=1, normalize=True)
    with pytest.raises(ValueError, match=r"invalid value for `axes`"):
        Dot(axes="last")
    assert dot([a, a], axes=(-1, -1)).shape == (None, 1)
    with pytest.raises(ValueError, match=r"exactly 2 inputs"):
        dot([a, a, a], axes=1)


def test_merge_modes_not_supported():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    with pytest.raises(NotImplementedError, match=r"mode='cos'.*not supported"):
        merge([a, b], mode="cos")
    with pytest.raises(ValueError, match=r"Invalid merge mode: 'avg'"):
        merge([a, b], mode="avg")
    with pytest.raises(NotImplementedError, match=r"function"):
        merge([a, b], mode=lambda xs: xs[0])
    with pytest.raises(NotImplementedError, match=r"output_shape"):
        merge([a, b], mode="sum", output_shape=(3,))
