"""evaluate(): every loss and metric against numpy, and the bookkeeping of multi-output models.

What is checked, and why:
- Each loss, on the predictions the native model itself makes (so this isolates the loss
  code from the forward pass): the value evaluate() returns is the mean over all samples of
  Keras's per-sample loss (kcc.losses references, float64), also when the batch size does
  not divide the number of samples and for every target spelling the engine accepts.
- 'accuracy'/'acc' resolve per loss as Keras 1 does (binary for bce or one output unit,
  sparse for sparse labels, categorical otherwise) and keep the spelling the user wrote in
  `metrics_names`; categorical/sparse/binary accuracy and the mse/mae metrics match numpy.
- Multi-output models: the total loss is the loss-weighted sum of the per-output losses,
  and `metrics_names` is ['loss', '<out>_loss'..., '<out>_<metric>'...] in output order,
  with evaluate() returning values in that order.
- Losses on a rank-3 output (a Dense over time steps) follow Keras: the per-sample loss
  is computed over the last axis and averaged over the other axes.
"""
import numpy as np
import pytest

import numerics_ref as ref
from kcc import losses, metrics
from kcc.layers import Dense, Input
from kcc.models import Model

N = 37        # not a multiple of the batch sizes used below


def _model(head_act, units, n_in=6):
    inp = Input(shape=(n_in,))
    h = Dense(8, activation="tanh", name="hidden")(inp)
    return Model(inp, Dense(units, activation=head_act, name="out")(h))


LOSS_CASES = [
    ("categorical_crossentropy", "softmax", 4),
    ("categorical_crossentropy", "sigmoid", 4),        # renormalized by the loss
    ("sparse_categorical_crossentropy", "softmax", 4),
    ("binary_crossentropy", "sigmoid", 3),
    ("binary_crossentropy", "sigmoid", 1),
    ("mean_squared_error", "linear", 3),
    ("mean_absolute_error", "linear", 3),
    ("mse", "softmax", 4),
    ("mae", "tanh", 1),
]


@pytest.mark.parametrize("loss,head_act,units", LOSS_CASES,
                         ids=[f"{l}-{a}-{u}" for l, a, u in LOSS_CASES])
@pytest.mark.parametrize("batch_size", [None, 5, 64])
def test_loss_value(loss, head_act, units, batch_size):
    rng = np.random.default_rng(10)
    model = _model(head_act, units)
    model.compile(optimizer="sgd", loss=loss)
    ref.randomize(model, rng, scale=2.0)
    x = rng.normal(size=(N, 6)).astype(np.float32)
    y = ref.targets(loss, rng, N, units)
    p = model.predict(x)
    expected = ref.loss_value(loss, y, p)
    assert model.metrics_names == ["loss"]
    got = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert model.test_on_batch(x, y) == pytest.approx(expected, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("loss,spelling", [
    ("sparse_categorical_crossentropy", lambda y: y.reshape(-1, 1)),
    ("sparse_categorical_crossentropy", lambda y: y.astype(np.float64)),
    ("binary_crossentropy", lambda y: y.reshape(-1)),          # (n,) for a 1-unit output
])
def test_loss_value_for_other_target_spellings(loss, spelling):
    rng = np.random.default_rng(11)
    units = 1 if loss == "binary_crossentropy" else 4
    model = _model("sigmoid" if units == 1 else "softmax", units)
    model.compile(optimizer="sgd", loss=loss)
    ref.randomize(model, rng, scale=2.0)
    x = rng.normal(size=(N, 6)).astype(np.float32)
    y = ref.targets(loss, rng, N, units)
    expected = ref.loss_value(loss, y, model.predict(x))
    assert model.evaluate(x, spelling(y), verbose=0) == pytest.approx(expected, rel=1e-5)


# (loss, head activation, units, metrics given, expected names, canonical metric per name)
METRIC_CASES = [
    ("categorical_crossentropy", "softmax", 4,
     ["accuracy", "categorical_accuracy", "mse", "mae"],
     ["accuracy", "categorical_accuracy", "mse", "mae"],
     ["categorical_accuracy", "categorical_accuracy", "mean_squared_error", "mean_absolute_error"]),
    ("sparse_categorical_crossentropy", "softmax", 4,
     ["acc", "sparse_categorical_accuracy"], ["acc", "sparse_categorical_accuracy"],
     ["sparse_categorical_accuracy", "sparse_categorical_accuracy"]),
    ("binary_crossentropy", "sigmoid", 3,
     ["accuracy", "binary_accuracy", "mae"], ["accuracy", "binary_accuracy", "mae"],
     ["binary_accuracy", "binary_accuracy", "mean_absolute_error"]),
    ("mse", "sigmoid", 1, ["acc", "mean_squared_error"], ["acc", "mean_squared_error"],
     ["binary_accuracy", "mean_squared_error"]),                # one unit: binary accuracy
    ("mse", "softmax", 4, ["accuracy"], ["accuracy"], ["categorical_accuracy"]),
    ("mae", "linear", 2, [metrics.MeanSquaredError(name="m2")], ["m2"], ["mean_squared_error"]),
]


@pytest.mark.parametrize("loss,head_act,units,given,names,canonical", METRIC_CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in METRIC_CASES])
def test_metrics(loss, head_act, units, given, names, canonical):
    rng = np.random.default_rng(12)
    model = _model(head_act, units)
    model.compile(optimizer="sgd", loss=loss, metrics=given)
    ref.randomize(model, rng, scale=2.0)
    n = 200
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = ref.targets(loss, rng, n, units)
    if units == 1 and loss == "mse":
        y = rng.integers(0, 2, (n, 1)).astype(np.float32)
    p = model.predict(x)
    assert model.metrics_names == ["loss"] + names
    got = model.evaluate(x, y, batch_size=16, verbose=0)
    assert got[0] == pytest.approx(ref.loss_value(loss, y, p), rel=1e-5, abs=1e-7)
    for name, canon, value in zip(names, canonical, got[1:]):
        expected = float(np.mean(metrics.reference(canon, y, p.astype(np.float64))))
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-7), name
        if "accuracy" in canon:
            assert 0.0 < expected < 1.0, "accuracy should not be trivially 0 or 1 here"


def _three_outputs():
    inp = Input(shape=(6,))
    h = Dense(8, activation="tanh", name="trunk")(inp)
    cls = Dense(4, activation="softmax", name="cls")(h)
    reg = Dense(2, name="reg")(h)
    flag = Dense(1, activation="sigmoid", name="flag")(h)
    return Model(inp, [cls, reg, flag])


def test_multi_output_total_is_weighted_sum_and_names_are_ordered():
    rng = np.random.default_rng(13)
    model = _three_outputs()
    kinds = ["categorical_crossentropy", "mean_squared_error", "binary_crossentropy"]
    weights = {"cls": 0.5, "reg": 2.0}                   # flag left out: weighs 1.0
    model.compile(optimizer="sgd", loss={"flag": "binary_crossentropy", "cls": kinds[0],
                                         "reg": "mse"},
                  loss_weights=weights, metrics={"cls": "accuracy", "reg": ["mae", "mse"],
                                                 "flag": ["acc"]})
    assert model.metrics_names == [
        "loss", "cls_loss", "reg_loss", "flag_loss",
        "cls_accuracy", "reg_mae", "reg_mse", "flag_acc"]
    ref.randomize(model, rng, scale=2.0)
    n = 120
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = [ref.targets(kinds[0], rng, n, 4), ref.targets(kinds[1], rng, n, 2),
         ref.targets(kinds[2], rng, n, 1)]
    p = model.predict(x)
    per_output = [ref.loss_value(k, t, o) for k, t, o in zip(kinds, y, p)]
    expected = [0.5 * per_output[0] + 2.0 * per_output[1] + per_output[2]] + per_output + [
        np.mean(metrics.categorical_accuracy(y[0], p[0])),
        np.mean(metrics.mean_absolute_error(y[1], p[1].astype(np.float64))),
        np.mean(metrics.mean_squared_error(y[1], p[1].astype(np.float64))),
        np.mean(metrics.binary_accuracy(y[2], p[2]))]
    got = model.evaluate(x, y, batch_size=32, verbose=0)
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-7)
    # the same targets as a dict keyed by output name
    got_dict = model.evaluate(x, {"reg": y[1], "flag": y[2], "cls": y[0]}, verbose=0)
    assert got_dict == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_multi_output_accuracy_resolves_per_output():
    """One metrics list for all outputs: 'accuracy' means categorical, categorical (mse
    on 2 units) and binary (1 unit) accuracy on the three outputs."""
    rng = np.random.default_rng(14)
    model = _three_outputs()
    kinds = ["categorical_crossentropy", "mse", "binary_crossentropy"]
    model.compile(optimizer="sgd", loss=kinds, loss_weights=[1.0, 0.1, 3.0], metrics=["accuracy"])
    assert model.metrics_names == ["loss", "cls_loss", "reg_loss", "flag_loss",
                                   "cls_accuracy", "reg_accuracy", "flag_accuracy"]
    ref.randomize(model, rng, scale=2.0)
    n = 150
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = [ref.targets(kinds[0], rng, n, 4), np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)],
         ref.targets(kinds[2], rng, n, 1)]
    p = model.predict(x)
    per_output = [ref.loss_value(k, t, o) for k, t, o in zip(kinds, y, p)]
    expected = ([per_output[0] + 0.1 * per_output[1] + 3.0 * per_output[2]] + per_output +
                [np.mean(metrics.categorical_accuracy(y[0], p[0])),
                 np.mean(metrics.categorical_accuracy(y[1], p[1])),
                 np.mean(metrics.binary_accuracy(y[2], p[2]))])
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("loss,head_act", [
    ("mean_squared_error", "linear"),
    ("mean_absolute_error", "tanh"),
    ("binary_crossentropy", "sigmoid"),
    ("categorical_crossentropy", "softmax"),
])
def test_losses_on_a_rank3_output_average_over_time_steps(loss, head_act):
    """Input (T=3, 5) -> Dense(4) on the last axis; Keras computes the loss of every time
    step over the last axis, then averages over steps and samples (so do the metrics)."""
    rng = np.random.default_rng(15)
    inp = Input(shape=(3, 5))
    model = Model(inp, Dense(4, activation=head_act)(inp))
    metric = "binary_accuracy" if loss == "binary_crossentropy" else "categorical_accuracy"
    model.compile(optimizer="sgd", loss=loss, metrics=[metric])
    ref.randomize(model, rng, scale=2.0)
    n = 40
    x = rng.normal(size=(n, 3, 5)).astype(np.float32)
    if loss == "binary_crossentropy":
        y = rng.integers(0, 2, (n, 3, 4)).astype(np.float32)
    else:
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, 3))]
    p = model.predict(x)
    expected_loss = float(np.mean(losses.reference(loss, y, p.astype(np.float64))))
    expected_metric = float(np.mean(metrics.reference(metric, y, p)))
    got = model.evaluate(x, y, verbose=0)
    assert got[0] == pytest.approx(expected_loss, rel=1e-5), "loss"
    assert got[1] == pytest.approx(expected_metric, rel=1e-5), metric


def test_sparse_categorical_crossentropy_on_a_rank3_output():
    """Keras accepts integer labels of shape (n, T) (or (n, T, 1)) for an (n, T, C) output."""
    rng = np.random.default_rng(16)
    inp = Input(shape=(3, 5))
    model = Model(inp, Dense(4, activation="softmax")(inp))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ref.randomize(model, rng, scale=2.0)
    n = 40
    x = rng.normal(size=(n, 3, 5)).astype(np.float32)
    y = rng.integers(0, 4, (n, 3)).astype(np.int32)
    p = model.predict(x)
    expected = [float(np.mean(losses.sparse_categorical_crossentropy(y, p.astype(np.float64)))),
                float(np.mean(metrics.sparse_categorical_accuracy(y, p)))]
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("threads", [1, 3, 8])
def test_evaluate_does_not_depend_on_the_thread_count(threads):
    """Batches the runtime may split across threads: the per-thread loss and metric sums
    must add up to the same means."""
    rng = np.random.default_rng(17)
    model = _three_outputs()
    kinds = ["sparse_categorical_crossentropy", "mae", "binary_crossentropy"]
    model.compile(optimizer="sgd", loss=kinds, loss_weights=[0.7, 1.3, 1.0], metrics=["accuracy"])
    model._native.session.set_threads(threads)
    ref.randomize(model, rng, scale=2.0)
    n = 301
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = [ref.targets(kinds[0], rng, n, 4), ref.targets(kinds[1], rng, n, 2),
         ref.targets(kinds[2], rng, n, 1)]
    p = model.predict(x, batch_size=128)
    per_output = [ref.loss_value(k, t, o) for k, t, o in zip(kinds, y, p)]
    expected = ([0.7 * per_output[0] + 1.3 * per_output[1] + per_output[2]] + per_output +
                [np.mean(metrics.sparse_categorical_accuracy(y[0], p[0])),
                 np.mean(metrics.categorical_accuracy(y[1], p[1])),
                 np.mean(metrics.binary_accuracy(y[2], p[2]))])
    assert model.evaluate(x, y, batch_size=128, verbose=0) == pytest.approx(expected, rel=1e-5,
                                                                             abs=1e-7)
