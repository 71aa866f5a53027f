"""Dropout in training: the mask, its scale, its stream, and reproducible training.

The mask is observed exactly through gradients. In `x -> Dropout(rate) -> probe`, probe a
bias-free Dense(1) trained with mae against a target far above any prediction, the loss
gradient is -1/n on every row, so d loss / d probe_kernel[j] = -(1/n) sum_i x[i, j] *
mask[i, j] / (1 - rate). With x[i, :] = 2^i the sum is a binary number whose bits are the
rows' masks, so one gradient call reveals the mask of every row and column. (The probe
also covers a Dropout right on the model input, with nothing trainable upstream.)

What is checked, and why:
- Each element is either dropped (0) or scaled by exactly 1 / (1 - rate) (inverted
  dropout, so inference needs no rescaling), about `rate` of them are dropped, and rows
  get different masks.
- The backward pass applies the same mask as the forward pass (checked through the
  gradient of a Dense before the dropout).
- The mask is a function of the seed and the step: the same seed repeats it, and
  successive training steps draw new masks (seen in the weight updates of plain SGD); a
  row's mask does not depend on how the runtime splits the batch across threads.
- With kcc.utils.set_random_seed, two identical trainings (fit with shuffling and
  dropout, two epochs) give bitwise-equal weights, and another seed gives other weights.
"""
import numpy as np
import pytest

import numerics_ref as ref
from kcc import optimizers
from kcc.layers import Dense, Dropout, Input
from kcc.models import Model
from kcc.utils import set_random_seed

D = 4000        # columns: enough for a tight estimate of the dropped fraction
ROWS = 3        # rows, encoded as bits 1, 2, 4
FAR = 1.0e3     # mae target far above every prediction: d loss / d prediction = -1/n


def _probe_model(rate, learning_rate=0.0):
    inp = Input(shape=(D,))
    out = Dense(1, use_bias=False, kernel_initializer="zeros", name="probe")(Dropout(rate)(inp))
    model = Model(inp, out)
    model.compile(optimizer=optimizers.SGD(learning_rate=learning_rate), loss="mae")
    return model


def _probe_data(rows=ROWS):
    x = np.repeat(2.0 ** np.arange(rows, dtype=np.float32)[:, None], D, axis=1)
    return x, np.full((rows, 1), FAR, np.float32)


def _decode(scaled_sum, rate, rows=ROWS):
    """sum_i 2^i mask[i, j] / keep for every column -> (rows, D) boolean masks; checks that
    every column is an exact multiple of 1/keep (nothing but 0 and 1/keep is ever used)."""
    bits = scaled_sum * (1.0 - rate)
    code = np.rint(bits)
    np.testing.assert_allclose(bits, code, atol=1e-4, err_msg="values other than 0 or 1/keep")
    code = code.astype(np.int64)
    assert code.min() >= 0 and code.max() < 2 ** rows
    return np.stack([(code >> i) & 1 for i in range(rows)]).astype(bool)   # True = kept


def _masks_from_gradients(model, rate, seed, rows=ROWS):
    x, y = _probe_data(rows)
    _, grads = model._native.gradients(model._x(x), model._y(y), seed=seed)
    return _decode(-grads["probe/kernel"][:, 0].astype(np.float64) * rows, rate, rows)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_mask_drops_about_rate_and_scales_the_rest(rate):
    model = _probe_model(rate)
    kept = _masks_from_gradients(model, rate, seed=1234)
    sigma = np.sqrt(rate * (1 - rate) / D)
    for row in kept:
        assert abs((1.0 - row.mean()) - rate) < 5 * sigma, f"dropped fraction {1 - row.mean()}"
    assert not np.array_equal(kept[0], kept[1]) and not np.array_equal(kept[1], kept[2])
    # rows are independent: the overlap of two rows' kept sets is about keep^2
    both = np.mean(kept[0] & kept[1])
    assert abs(both - (1 - rate) ** 2) < 5 * np.sqrt((1 - rate) ** 2 / D)


def test_same_seed_same_mask_other_seed_other_mask():
    model = _probe_model(0.5)
    a = _masks_from_gradients(model, 0.5, seed=7)
    np.testing.assert_array_equal(a, _masks_from_gradients(model, 0.5, seed=7))
    b = _masks_from_gradients(model, 0.5, seed=8)
    assert 0.3 < np.mean(a != b) < 0.7           # independent masks disagree on ~half


def test_mask_does_not_depend_on_how_rows_are_split_across_threads():
    """16 rows (rate 0.5 keeps every sum exact in float32): one thread or several, each
    row gets the same mask, because the mask is a function of the row's index in the batch."""
    rows, rate = 16, 0.5
    model = _probe_model(rate)
    session = model._native.session
    session.set_threads(1)
    single = _masks_from_gradients(model, rate, seed=5, rows=rows)
    for threads in (2, 3, 4):
        session.set_threads(threads)
        np.testing.assert_array_equal(_masks_from_gradients(model, rate, seed=5, rows=rows), single,
                                      err_msg=f"{threads} threads")
    assert len({row.tobytes() for row in single}) == rows          # every row its own mask


def test_backward_uses_the_forward_mask():
    """x -> pre = Dense(K) -> Dropout -> probe: the gradient reaching `pre` is zero exactly
    in the columns the forward dropped, and scaled by 1/keep elsewhere."""
    rate, K = 0.4, 64
    rng = np.random.default_rng(30)
    inp = Input(shape=(6,))
    pre = Dense(K, name="pre")(inp)
    model = Model(inp, Dense(1, use_bias=False, name="probe")(Dropout(rate)(pre)))
    model.compile(optimizer="sgd", loss="mae")
    p = ref.randomize(model, rng)
    x = rng.normal(size=(1, 6)).astype(np.float32)
    y = np.full((1, 1), FAR, np.float32)
    _, grads = model._native.gradients(model._x(x), model._y(y), seed=99)
    h = ref.dense(p, "pre", x)[0]
    scaled_mask = -grads["probe/kernel"][:, 0] / h               # mask / keep, from the forward
    bits = scaled_mask * (1 - rate)
    np.testing.assert_allclose(bits, np.rint(bits), atol=1e-4)
    assert 0 < np.count_nonzero(scaled_mask) < K
    d_pre = -p["probe/kernel"][:, 0] * scaled_mask               # d loss / d pre output
    np.testing.assert_allclose(grads["pre/bias"], d_pre, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grads["pre/kernel"], np.outer(x[0], d_pre), rtol=1e-5, atol=1e-7)


def test_training_steps_draw_new_masks():
    """SGD on the probe: each step's weight change is +(lr/n) sum_i 2^i mask_i / keep (lr is
    small, so the predictions stay far below the target and the loss gradient stays -1/n)."""
    rate, lr = 0.5, 1e-3
    model = _probe_model(rate, learning_rate=lr)
    x, y = _probe_data()
    masks, w = [], model.get_layer("probe").get_weights()[0][:, 0].astype(np.float64)
    for _ in range(3):
        model.train_on_batch(x, y)
        new = model.get_layer("probe").get_weights()[0][:, 0].astype(np.float64)
        kept = _decode((new - w) * ROWS / lr, rate)
        w = new
        sigma = np.sqrt(rate * (1 - rate) / D)
        assert all(abs((1.0 - row.mean()) - rate) < 5 * sigma for row in kept)
        masks.append(kept)
    for a, b in [(0, 1), (1, 2), (0, 2)]:
        assert 0.3 < np.mean(masks[a] != masks[b]) < 0.7, f"steps {a + 1} and {b + 1}"


def _train_once(seed, x, y):
    set_random_seed(seed)
    inp = Input(shape=(10,))
    h = Dropout(0.5)(Dense(16, activation="relu")(inp))
    h = Dropout(0.25)(Dense(8, activation="tanh")(h))
    model = Model(inp, Dense(3, activation="softmax")(h))
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
    return [w.numpy().copy() for w in model.weights], history.history["loss"]


def test_set_random_seed_makes_training_bitwise_reproducible():
    rng = np.random.default_rng(31)
    x = rng.normal(size=(50, 10)).astype(np.float32)
    y = ref.targets("categorical_crossentropy", rng, 50, 3)
    w1, loss1 = _train_once(42, x, y)
    w2, loss2 = _train_once(42, x, y)
    assert loss1 == loss2
    for a, b in zip(w1, w2):
        assert a.tobytes() == b.tobytes()
    w3, _ = _train_once(43, x, y)
    assert any(a.tobytes() != b.tobytes() for a, b in zip(w1, w3))


def test_fit_shuffle_and_dropout_depend_on_the_seed_not_only_the_init():
    """Same initial weights (set explicitly) and step counter, different seeds: the
    trainings differ, so the seed drives the shuffle / dropout stream of fit, not only the
    initializers. (The mask also depends on the step, so each run restarts it at 0; plain
    SGD has no other state.)"""
    rng = np.random.default_rng(32)
    x = rng.normal(size=(40, 10)).astype(np.float32)
    y = ref.targets("categorical_crossentropy", rng, 40, 3)
    inp = Input(shape=(10,))
    h = Dropout(0.5)(Dense(16, activation="relu")(inp))
    model = Model(inp, Dense(3, activation="softmax")(h))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy")
    start = [w.numpy().copy() for w in model.weights]
    results = []
    for seed in (1, 1, 2):
        model.set_weights(start)
        model.optimizer.iterations = 0
        set_random_seed(seed)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=True, verbose=0)
        results.append([w.numpy().tobytes() for w in model.weights])
    assert results[0] == results[1]
    assert results[0] != results[2]
