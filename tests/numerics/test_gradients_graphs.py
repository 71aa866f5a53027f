"""Backward numerics of graphs: fan-out, shared layers, views, rank-3 tensors, threads.

Same method as test_gradients.py (native gradients against float64 finite differences
of a numpy forward + Keras loss, and against a hand backprop that *adds* gradients where
a tensor is read twice or a layer is used twice). Cases:
- fan-out: one hidden tensor feeding two heads with two losses and loss weights; an
  output that another layer also reads (its sigmoid cannot be fused with the loss);
- shared layers: a Dense used twice in a chain, whose kernel gradient must equal the sum
  of both uses' contributions; a tower and a head shared across two inputs (siamese); a
  shared linear Dense followed by an Activation on one use only (the fusion must not
  leak into the other use);
- views: Flatten / Reshape between layers and as the model output; Dense on a rank-3
  tensor with a loss averaged over samples and steps, as Keras does;
- an Activation on the model input (nothing trainable upstream);
- int32 ids read as floats by a Dense (a cast, no gradient into the ids) and looked up by
  an Embedding through a Reshape view;
- a large batch, which the runtime may split across threads, for several thread counts.
"""
import numpy as np
import pytest

import numerics_ref as ref
from kcc.layers import Activation, Dense, Flatten, Input, Reshape
from kcc.models import Model

N = 7          # batch rows (odd on purpose: no accidental symmetry with widths)


def test_fan_out_two_heads_two_losses_with_weights():
    """x -> h = Dense(6, tanh) -> {Dense(3, softmax): cce x0.3, Dense(2): mse x2.0}:
    h's gradient is the sum of both heads', each scaled by its loss weight."""
    rng = np.random.default_rng(300)
    inp = Input(shape=(5,))
    h = Dense(6, activation="tanh", name="trunk")(inp)
    out_a = Dense(3, activation="softmax", name="cls")(h)
    out_b = Dense(2, name="reg")(h)
    model = Model(inp, [out_a, out_b])
    kinds, weights = ["categorical_crossentropy", "mse"], [0.3, 2.0]
    model.compile(optimizer="sgd", loss=kinds, loss_weights=weights)
    ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 5)).astype(np.float32)
    y = [ref.targets(kinds[0], rng, N, 3), ref.targets(kinds[1], rng, N, 2)]

    def forward(p):
        hh = ref.dense(p, "trunk", x, "tanh")
        return [ref.dense(p, "cls", hh, "softmax"), ref.dense(p, "reg", hh)]

    def analytic(p):
        tape = ref.Tape(p)
        hh = tape.dense("trunk", x, "tanh")
        a, b = tape.dense("cls", hh, "softmax"), tape.dense("reg", hh)
        return tape.backward({id(a): weights[0] * ref.loss_grad(kinds[0], y[0], a),
                              id(b): weights[1] * ref.loss_grad(kinds[1], y[1], b)})[0]

    ref.check_gradients(model, x, y, forward, kinds, weights, analytic, what="fan-out")
    sums, _ = ref.native_gradients(model, x, y)
    outs = forward(ref.weights_of(model))
    for k in range(2):       # per-output loss sums follow the total, unweighted
        assert sums[1 + k] / N == pytest.approx(ref.loss_value(kinds[k], y[k], outs[k]), rel=1e-5)


def test_output_that_is_also_read_by_another_layer():
    """h = Dense(4, sigmoid) is an output (bce x0.5) *and* feeds Dense(3, softmax) (cce):
    the loss gradient on h and the backprop from the next layer must add up; the sigmoid
    may not be fused with the bce here because h has another consumer."""
    rng = np.random.default_rng(400)
    inp = Input(shape=(5,))
    h = Dense(4, activation="sigmoid", name="mid")(inp)
    out = Dense(3, activation="softmax", name="top")(h)
    model = Model(inp, [h, out])
    kinds, weights = ["binary_crossentropy", "categorical_crossentropy"], [0.5, 1.0]
    model.compile(optimizer="sgd", loss=kinds, loss_weights={"mid": 0.5})
    ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 5)).astype(np.float32)
    y = [ref.targets(kinds[0], rng, N, 4), ref.targets(kinds[1], rng, N, 3)]

    def forward(p):
        hh = ref.dense(p, "mid", x, "sigmoid")
        return [hh, ref.dense(p, "top", hh, "softmax")]

    def analytic(p):
        tape = ref.Tape(p)
        hh = tape.dense("mid", x, "sigmoid")
        o = tape.dense("top", hh, "softmax")
        grads = tape.backward({id(o): ref.loss_grad(kinds[1], y[1], o),
                               id(hh): weights[0] * ref.loss_grad(kinds[0], y[0], hh)})
        return grads[0]

    ref.check_gradients(model, x, y, forward, kinds, weights, analytic, what="output read twice")


def test_shared_dense_twice_in_a_chain():
    """x -> shared -> Dense(6, relu) -> shared -> Dense(3, softmax): one weight slot,
    whose gradient is the sum of the two uses' contributions."""
    rng = np.random.default_rng(500)
    inp = Input(shape=(6,))
    shared = Dense(6, activation="tanh", name="shared")
    h = shared(inp)
    h = Dense(6, activation="relu", name="middle")(h)
    h = shared(h)
    out = Dense(3, activation="softmax", name="top")(h)
    model = Model(inp, out)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    ref.randomize(model, rng, scale=1.5)
    assert sorted(v.path for v in model.weights) == sorted(
        ["shared/kernel", "shared/bias", "middle/kernel", "middle/bias", "top/kernel", "top/bias"])
    x = rng.normal(size=(N, 6)).astype(np.float32)
    y = ref.targets("categorical_crossentropy", rng, N, 3)

    def forward(p):
        hh = ref.dense(p, "shared", x, "tanh")
        hh = ref.dense(p, "shared", ref.dense(p, "middle", hh, "relu"), "tanh")
        return [ref.dense(p, "top", hh, "softmax")]

    def backprop(p):
        tape = ref.Tape(p)
        hh = tape.dense("shared", x, "tanh")
        hh = tape.dense("shared", tape.dense("middle", hh, "relu"), "tanh")
        o = tape.dense("top", hh, "softmax")
        return tape.backward({id(o): ref.loss_grad("categorical_crossentropy", y, o)})

    grads, per_call = backprop(ref.weights_of(model))
    uses = [c for name, c in per_call if name == "shared"]
    assert len(uses) == 2 and not np.allclose(uses[0], 0) and not np.allclose(uses[1], 0)
    np.testing.assert_allclose(grads["shared/kernel"], uses[0] + uses[1])
    ref.check_gradients(model, x, y, forward, ["categorical_crossentropy"],
                        analytic=lambda p: backprop(p)[0], what="shared chain")
    _, native = ref.native_gradients(model, x, y)
    np.testing.assert_allclose(native["shared/kernel"], uses[0] + uses[1], rtol=2e-3,
                               atol=2e-3 * np.abs(uses[0] + uses[1]).max())


def test_shared_layers_across_two_inputs():
    """Siamese: one Dense(5, tanh) tower and one Dense(3, sigmoid) head applied to two
    inputs, two outputs with bce; every weight's gradient sums both branches."""
    rng = np.random.default_rng(600)
    in_a, in_b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    tower = Dense(5, activation="tanh", name="tower")
    head = Dense(3, activation="sigmoid", name="head")
    out_a, out_b = head(tower(in_a)), head(tower(in_b))
    model = Model([in_a, in_b], [out_a, out_b])
    kinds, weights = ["binary_crossentropy"] * 2, [1.0, 0.25]
    model.compile(optimizer="sgd", loss="binary_crossentropy", loss_weights=weights)
    ref.randomize(model, rng, scale=1.5)
    xa = rng.normal(size=(N, 4)).astype(np.float32)
    xb = rng.normal(size=(N, 4)).astype(np.float32)
    y = [ref.targets(kinds[0], rng, N, 3) for _ in range(2)]

    def forward(p):
        return [ref.dense(p, "head", ref.dense(p, "tower", xx, "tanh"), "sigmoid")
                for xx in (xa, xb)]

    def analytic(p):
        tape = ref.Tape(p)
        oa = tape.dense("head", tape.dense("tower", xa, "tanh"), "sigmoid")
        ob = tape.dense("head", tape.dense("tower", xb, "tanh"), "sigmoid")
        return tape.backward({id(oa): weights[0] * ref.loss_grad(kinds[0], y[0], oa),
                              id(ob): weights[1] * ref.loss_grad(kinds[1], y[1], ob)})[0]

    ref.check_gradients(model, [xa, xb], y, forward, kinds, weights, analytic, what="siamese")


def test_shared_linear_dense_with_an_activation_after_one_use_only():
    """Folding an Activation into one use of a shared linear Dense must not change its
    other use: x -> s -> Activation(relu) -> Dense(4) -> s (stays linear) -> out."""
    rng = np.random.default_rng(1100)
    inp = Input(shape=(4,))
    shared = Dense(4, name="s")
    h = Activation("relu")(shared(inp))
    h = shared(Dense(4, activation="tanh", name="mid")(h))
    model = Model(inp, Dense(3, activation="softmax", name="out")(h))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 4)).astype(np.float32)
    y = ref.targets("categorical_crossentropy", rng, N, 3)

    def forward(p):
        hh = ref.act("relu", ref.dense(p, "s", x))
        hh = ref.dense(p, "s", ref.dense(p, "mid", hh, "tanh"))
        return [ref.dense(p, "out", hh, "softmax")]

    np.testing.assert_allclose(model.predict(x), forward(ref.weights_of(model))[0],
                               rtol=1e-4, atol=1e-5)
    ref.check_gradients(model, x, y, forward, ["categorical_crossentropy"], what="shared + fold")


def test_gradients_through_flatten_and_reshape():
    """(2, 3, 4) -> Flatten -> Dense(6) -> Reshape((2, 3)) -> Dense(5) -> Reshape((-1,))
    -> Dense(3, softmax): gradients flow back through the views in memory order."""
    rng = np.random.default_rng(1000)
    inp = Input(shape=(2, 3, 4))
    h = Dense(6, activation="tanh", name="a")(Flatten()(inp))
    h = Dense(5, activation="elu", name="b")(Reshape((2, 3))(h))
    model = Model(inp, Dense(3, activation="softmax", name="c")(Reshape((-1,))(h)))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 2, 3, 4)).astype(np.float32)
    y = ref.targets("categorical_crossentropy", rng, N, 3)

    def forward(p):
        hh = ref.dense(p, "a", x.reshape(N, 24), "tanh")
        hh = ref.dense(p, "b", hh.reshape(N, 2, 3), "elu")
        return [ref.dense(p, "c", hh.reshape(N, 10), "softmax")]

    ref.check_gradients(model, x, y, forward, ["categorical_crossentropy"], what="views")


@pytest.mark.parametrize("loss,head_act", [("mean_squared_error", "tanh"),
                                           ("categorical_crossentropy", "softmax")])
def test_output_that_is_a_view(loss, head_act):
    """(3, 5) -> Dense(4, head) on the last axis -> Flatten as the model output: the loss
    reads the (n, 12) view, and its gradient reaches the Dense through it (a softmax over
    each step's 4 units is not the softmax the loss could fuse with)."""
    rng = np.random.default_rng(1300)
    inp = Input(shape=(3, 5))
    model = Model(inp, Flatten()(Dense(4, activation=head_act, name="head")(inp)))
    model.compile(optimizer="sgd", loss=loss)
    ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 3, 5)).astype(np.float32)
    y = ref.targets(loss, rng, N, 12)

    def forward(p):
        return [ref.dense(p, "head", x, head_act).reshape(N, 12)]

    ref.check_gradients(model, x, y, forward, [loss], what=f"view output {loss}")


@pytest.mark.parametrize("loss,head_act", [("mean_squared_error", "tanh"),
                                           ("binary_crossentropy", "sigmoid"),
                                           ("categorical_crossentropy", "softmax")])
def test_rank3_output(loss, head_act):
    """(T=3, 5) -> Dense(6, relu) -> Dense(4, head) on the last axis: the weights see every
    time step; Keras's loss is a mean over samples *and* steps of the per-step loss."""
    rng = np.random.default_rng(900)
    inp = Input(shape=(3, 5))
    h = Dense(6, activation="relu", name="hidden")(inp)
    model = Model(inp, Dense(4, activation=head_act, name="head")(h))
    model.compile(optimizer="sgd", loss=loss)
    ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 3, 5)).astype(np.float32)
    if loss == "categorical_crossentropy":
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (N, 3))]
    else:
        y = rng.integers(0, 2, (N, 3, 4)).astype(np.float32)

    def forward(p):
        return [ref.dense(p, "head", ref.dense(p, "hidden", x, "relu"), head_act)]

    def analytic(p):
        tape = ref.Tape(p)
        o = tape.dense("head", tape.dense("hidden", x, "relu"), head_act)
        return tape.backward({id(o): ref.loss_grad(loss, y, o)})[0]

    ref.check_gradients(model, x, y, forward, [loss], analytic=analytic, what=f"rank-3 {loss}")


def test_activation_layer_on_the_input():
    """Input -> Activation(tanh) -> Dense -> Activation(softmax): the first activation
    has nothing trainable upstream, the last one is fused with the loss."""
    rng = np.random.default_rng(1400)
    inp = Input(shape=(5,))
    h = Dense(3, activation="relu", name="d")(Activation("tanh")(inp))
    model = Model(inp, Activation("softmax")(h))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    ref.randomize(model, rng, scale=1.5)
    x = rng.normal(size=(N, 5)).astype(np.float32)
    y = ref.targets("categorical_crossentropy", rng, N, 3)

    def forward(p):
        return [ref.act("softmax", ref.dense(p, "d", np.tanh(x), "relu"))]

    ref.check_gradients(model, x, y, forward, ["categorical_crossentropy"],
                        what="activation on input")


def test_int_ids_read_as_floats_and_looked_up_through_a_view():
    """int32 ids -> {Flatten -> cast -> Dense(tanh), Reshape -> Embedding} -> concat -> Dense:
    the Dense reads the ids' values as floats (nothing flows back into them), the table is
    read through a view; every gradient against finite differences, then one SGD step."""
    from kcc import optimizers
    from kcc.layers import Embedding, concatenate
    rng = np.random.default_rng(1500)
    ids = Input(shape=(2, 3), dtype="int32")
    h = Dense(4, activation="tanh", name="feat")(Flatten()(ids))
    e = Flatten()(Embedding(7, 2, name="emb")(Reshape((6,))(ids)))
    model = Model(ids, Dense(3, name="head")(concatenate([h, e])))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    ref.randomize(model, rng, scale=0.5)
    x = rng.integers(0, 7, (N, 2, 3)).astype(np.int32)
    y = ref.targets("mse", rng, N, 3)

    def forward(p):
        hh = ref.dense(p, "feat", x.reshape(N, 6).astype(np.float64), "tanh")
        ee = p["emb/embeddings"][x.reshape(N, 6)].reshape(N, 12)
        return [ref.dense(p, "head", np.concatenate([hh, ee], axis=1))]

    ref.check_gradients(model, x, y, forward, ["mse"], what="int ids")
    before = ref.weights_of(model)
    _, grads = ref.native_gradients(model, x, y)
    model.train_on_batch(x, y)
    for path, w in ref.weights_of(model).items():
        np.testing.assert_allclose(w, before[path] - 0.1 * grads[path], rtol=1e-5, atol=1e-7,
                                   err_msg=path)



def test_large_batch_gradients_do_not_depend_on_the_thread_count():
    """A batch the runtime may split across threads (each part adds into the gradient and
    the loss sums) gives the gradient of the whole batch's mean, for any thread count."""
    rng = np.random.default_rng(1200)
    inp = Input(shape=(5,))
    h = Dense(8, activation="relu", name="hidden")(inp)
    out_a = Dense(3, activation="softmax", name="cls")(h)
    out_b = Dense(2, name="reg")(h)
    model = Model(inp, [out_a, out_b])
    kinds, weights = ["sparse_categorical_crossentropy", "mse"], [1.0, 0.5]
    model.compile(optimizer="sgd", loss=kinds, loss_weights=weights)
    p = ref.randomize(model, rng, scale=1.5)
    n = 203
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = [ref.targets(kinds[0], rng, n, 3), ref.targets(kinds[1], rng, n, 2)]
    tape = ref.Tape(p)
    hh = tape.dense("hidden", x, "relu")
    a, b = tape.dense("cls", hh, "softmax"), tape.dense("reg", hh)
    expected = tape.backward({id(a): ref.loss_grad(kinds[0], y[0], a),
                              id(b): weights[1] * ref.loss_grad(kinds[1], y[1], b)})[0]
    total = ref.loss_value(kinds[0], y[0], a) + weights[1] * ref.loss_value(kinds[1], y[1], b)
    for threads in (1, 2, 3, 8):
        model._native.session.set_threads(threads)
        sums, native = ref.native_gradients(model, x, y)
        assert sums[0] / n == pytest.approx(total, rel=1e-5), f"{threads} threads"
        ref.assert_grads_close(native, expected, rtol=1e-4, what=f"{threads} threads")
