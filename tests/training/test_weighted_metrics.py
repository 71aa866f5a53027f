"""compile(weighted_metrics=...) and per-timestep sample weights, against Keras 3 (torch
backend): a weighted metric is sum(w m) / sum(w) over the epoch, named as Keras names it
(weighted_<name> when the same name is also an unweighted metric), the logs' keys sorted
as Keras 3 sorts them; a per-timestep loss takes weights of shape (n, T) or (n, T, 1)."""
import os

import numpy as np
import pytest

import kcc
from kcc.models import Model


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _same(ours, theirs):
    assert list(ours) == list(theirs)      # the same keys in the same order
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=1e-6, err_msg=key)


def _two_heads(L, M):
    x = L.Input(shape=(4,), name="x")
    h = L.Dense(5, activation="tanh", name="h")(x)
    return M(x, [L.Dense(3, activation="softmax", name="a")(h), L.Dense(2, name="b")(h)])


def test_weighted_metrics_as_keras():
    """Two outputs: History (train and weighted validation), evaluate's dict and the weights
    after SGD agree; a zero weight sum gives 0 (Keras's divide_no_nan)."""
    keras = _keras()
    ours, theirs = _two_heads(kcc.layers, Model), _two_heads(keras.layers, keras.Model)
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(14, 4)).astype(np.float32)
    y = [np.eye(3, dtype=np.float32)[rng.integers(0, 3, 14)], rng.normal(size=(14, 2)).astype(np.float32)]
    sw = rng.uniform(0.1, 3.0, 14).astype(np.float32)
    kw = dict(loss=["categorical_crossentropy", "mse"], metrics=[["accuracy"], ["mae"]],
              weighted_metrics=[["accuracy"], ["mae", "mse"]])
    ours.compile(optimizer="sgd", **kw)
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), **kw)
    fit = dict(batch_size=4, epochs=2, shuffle=False, verbose=0, sample_weight=sw[:10],
               validation_data=(x[10:], [a[10:] for a in y], sw[10:]))
    _same(ours.fit(x[:10], [a[:10] for a in y], **fit).history,
          theirs.fit(x[:10], [a[:10] for a in y], **fit).history)
    _same(ours.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True),
          theirs.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True))
    logs = ours.evaluate(x, y, sample_weight=np.zeros(14), verbose=0, return_dict=True)
    assert logs["b_mse"] == 0.0 and logs["a_accuracy"] > 0.0    # weighted alone: its own name


def test_class_weight_weighs_the_weighted_metrics_and_names_repeat_as_keras(tmp_path):
    """class_weight weighs weighted_metrics too; a metric listed twice is logged twice
    (name, name_1), as in Keras. A saved model keeps its weighted metrics."""
    keras = _keras()

    def build(L, M):
        x = L.Input(shape=(4,))
        return M(x, L.Dense(3, activation="softmax", name="out")(x))
    ours, theirs = build(kcc.layers, Model), build(keras.layers, keras.Model)
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    kw = dict(loss="sparse_categorical_crossentropy", metrics=["acc", "acc"],
              weighted_metrics=["acc"])
    ours.compile(optimizer="sgd", **kw)
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), **kw)
    fit = dict(batch_size=5, epochs=1, shuffle=False, verbose=0, class_weight={0: 3.0, 2: 0.25})
    h = [m.fit(x, y, **fit).history for m in (ours, theirs)]
    assert list(h[0]) == ["acc", "acc_1", "loss", "weighted_acc"]
    _same(*h)
    ours.save(tmp_path / "m.kcc")
    loaded = kcc.models.load_model(tmp_path / "m.kcc")
    assert loaded.metrics_names == ours.metrics_names == ["loss", "acc", "acc_1", "weighted_acc"]


def test_temporal_sample_weights_as_keras():
    """A per-timestep loss weighs each timestep by sample_weight (n, T) or (n, T, 1): the loss
    is mean(w * l), a weighted metric sum(w m) / sum(w); training follows."""
    keras = _keras()

    def build(L, M):
        x = L.Input(shape=(3, 4))
        return M(x, L.TimeDistributed(L.Dense(5, activation="softmax"), name="tags")(x))
    ours, theirs = build(kcc.layers, Model), build(keras.layers, keras.Model)
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 3, 4)).astype(np.float32)
    y = rng.integers(0, 5, (8, 3))
    sw = rng.uniform(0.0, 2.0, (8, 3)).astype(np.float32)
    kw = dict(loss="sparse_categorical_crossentropy", metrics=["acc"], weighted_metrics=["acc"])
    ours.compile(optimizer="sgd", **kw)
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), **kw)
    p = ours.predict(x, verbose=0)
    lp = -np.log(np.take_along_axis(p, y[..., None], -1)[..., 0])
    logs = ours.evaluate(x, y, sample_weight=sw[..., None], verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(float(np.mean(sw * lp)), rel=1e-5)
    assert logs["weighted_acc"] == pytest.approx(
        float(np.sum(sw * (p.argmax(-1) == y)) / sw.sum()), rel=1e-6)
    _same(logs, theirs.evaluate(x, y, sample_weight=sw[..., None], verbose=0, return_dict=True))
    fit = dict(batch_size=3, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    _same(ours.fit(x, y, **fit).history, theirs.fit(x, y, **fit).history)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_bad_temporal_weights_are_clear_errors():
    from kcc.layers import Dense, Input, TimeDistributed
    inp = Input(shape=(3, 4))
    model = Model(inp, [TimeDistributed(Dense(2), name="seq")(inp), Dense(1, name="flat")(inp)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((5, 3, 4), np.float32)
    y = [np.zeros((5, 3, 2), np.float32), np.zeros((5, 3, 1), np.float32)]
    with pytest.raises(ValueError, match=r"`sample_weight` for output 'seq'.*\(5,\) or, one per "
                                         r"timestep, \(5, 3\); received shape \(5, 4\)"):
        model.evaluate(x, y, sample_weight=[np.ones((5, 4)), None], verbose=0)
    with pytest.raises(ValueError, match=r"several outputs \(seq, flat\).*one weight per sample"):
        model.evaluate(x, y, sample_weight=np.ones((5, 3)), verbose=0)
    assert model.evaluate(x, y, sample_weight=[np.ones((5, 3)), np.ones((5, 3, 1))], verbose=0)[0] == 0.0
