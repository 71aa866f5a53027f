"""Weight regularizers, constraints and activity_regularizer on LSTM, GRU and SimpleRNN, and
use_bias read for its truth, against Keras 3 (torch backend): the penalties of the kernel,
recurrent kernel and bias join the loss, the activity penalty covers every output of the
call (the sequence and, with return_state, the final states), constraints project after each
update."""
import os

import numpy as np
import pytest

import kcc
from kcc import constraints as C
from kcc import regularizers as R
from kcc.models import Model


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _build(k):
    """An LSTM with every rule, returning its sequence and both states (each penalized by its
    activity regularizer); a bias-free GRU (use_bias=None, as Keras reads it) started from h;
    a SimpleRNN; c joins the output."""
    L, reg, con = k.layers, k.regularizers, k.constraints
    x = L.Input(shape=(4, 3), name="x")
    seq, h, c = L.LSTM(5, return_sequences=True, return_state=True, name="lstm",
                       kernel_regularizer=reg.L2(0.02), recurrent_regularizer=reg.L1(0.01),
                       bias_regularizer=reg.L1L2(0.01, 0.02), activity_regularizer=reg.L2(0.05),
                       kernel_constraint=con.MaxNorm(0.8), recurrent_constraint=con.UnitNorm(),
                       bias_constraint=con.NonNeg())(x)
    g = L.GRU(5, use_bias=None, name="gru", recurrent_regularizer="l2",
              activity_regularizer=reg.L1(0.02),
              recurrent_constraint=con.MaxNorm(0.9, axis=1))(seq, initial_state=h)
    rnn = dict(name="rnn", kernel_regularizer=reg.L1L2(0.01, 0.01), bias_regularizer="l2",
               bias_constraint=con.MinMaxNorm(0.1, 0.5, axis=0))
    if k is kcc:
        r = L.SimpleRNN(3, activity_regularizer=reg.L1L2(0.01, 0.03), **rnn)(seq)
    else:   # Keras 3.15's SimpleRNN drops its activity_regularizer (never passed to its base
        r = L.ActivityRegularization(0.01, 0.03)(L.SimpleRNN(3, **rnn)(seq))   # Layer)
    y = L.Dense(2, name="out")(L.Concatenate()([g, r, c]))
    return x, y


def _same(a, b):
    """Configs equal, numbers to float32 (Keras keeps a regularizer's factor as float32)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-7)
    return a == b


def test_fit_history_weights_and_config_match_keras():
    keras = _keras()
    ours, theirs = Model(*_build(kcc)), keras.Model(*_build(keras))
    assert [w.path for w in ours.get_layer("gru").weights] == ["gru/kernel", "gru/recurrent_kernel"]
    assert len(theirs.get_layer("gru").weights) == 2            # Keras: use_bias=None, no bias
    for layer in ours.layers:
        if layer.weights:
            theirs.get_layer(layer.name).set_weights(layer.get_weights())
    rng = np.random.default_rng(7)
    x = rng.normal(size=(16, 4, 3)).astype(np.float32)
    y = rng.normal(size=(16, 2)).astype(np.float32)
    val = (x[:4] * 0.5, y[:4])
    for m, opt in ((ours, kcc.optimizers.SGD(0.1, momentum=0.5)),
                   (theirs, keras.optimizers.SGD(0.1, momentum=0.5))):
        m.compile(opt, "mse")
    runs = [m.fit(x, y, batch_size=8, epochs=2, shuffle=False, validation_data=val,
                  verbose=0).history for m in (ours, theirs)]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(runs[0][key], runs[1][key], rtol=1e-5, err_msg=key)
    for layer in (l for l in ours.layers if l.weights):
        for w, a, b in zip(layer.weights, layer.get_weights(),
                           theirs.get_layer(layer.name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=w.path)
    lstm = ours.get_layer("lstm")
    assert (lstm.bias.numpy() >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(lstm.recurrent_kernel.numpy(), axis=0), 1.0,
                               rtol=1e-5)
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(theirs.evaluate(x, y, verbose=0),
                                                           rel=1e-5)
    # evaluate = data loss + weight penalties + activity penalties of every output / batch
    pen = sum(w.regularizer(w.numpy()) for w in ours.trainable_weights if w.regularizer)
    seq, h, c, g, r = Model(ours.inputs, lstm.output + [ours.get_layer(name).output for name in
                                                        ("gru", "rnn")]).predict(x, verbose=0)
    act = (R.L2(0.05)(seq) + R.L2(0.05)(h) + R.L2(0.05)(c) + R.L1(0.02)(g)
           + R.L1L2(0.01, 0.03)(r)) / 16
    data = np.mean((ours.predict(x, verbose=0) - y) ** 2)
    assert ours.evaluate(x, y, batch_size=16, verbose=0) == pytest.approx(data + pen + act,
                                                                          rel=1e-5)
    # configs: Keras's keys and serialized objects, read back by kcc and by Keras
    for name in ("lstm", "gru", "rnn"):
        a = ours.get_layer(name).get_config()
        b = theirs.get_layer(name).get_config()
        for key in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                    "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                    "bias_constraint"):
            if (name, key) != ("rnn", "activity_regularizer"):      # None in Keras 3.15
                assert _same(a[key], b[key]), (name, key, a[key], b[key])
        assert a["use_bias"] is bool(b["use_bias"])      # Keras writes use_bias=None as given
    rebuilt = kcc.models.model_from_json(ours.to_json())
    assert rebuilt.get_layer("lstm").recurrent_constraint == C.UnitNorm()
    assert not rebuilt.get_layer("gru").use_bias and rebuilt.get_layer("gru").bias is None
    config = keras.layers.LSTM.from_config(ours.get_layer("lstm").get_config()).get_config()
    assert config == theirs.get_layer("lstm").get_config()


def test_keras1_names_and_refusals():
    L = kcc.layers
    r = L.SimpleRNN(2, W_regularizer="l2", U_regularizer=R.L1(0.1), b_regularizer="l1",
                    W_constraint="maxnorm", U_constraint=C.UnitNorm(), b_constraint="nonneg")
    assert (r.kernel_regularizer, r.recurrent_regularizer, r.bias_regularizer) == (
        R.L2(), R.L1(0.1), R.L1())
    assert (r.kernel_constraint, r.recurrent_constraint, r.bias_constraint) == (
        C.MaxNorm(), C.UnitNorm(), C.NonNeg())
    assert not L.LSTM(2, use_bias=0).use_bias and L.GRU(2).use_bias
    with pytest.raises(TypeError, match="`recurrent_constraint` or its Keras 1 name `U_constraint`"):
        L.GRU(2, recurrent_constraint="max_norm", U_constraint="max_norm")
    with pytest.raises(NotImplementedError, match="Layer lx: `activity_regularizer` is "
                                                  "OrthogonalRegularizer"):
        L.LSTM(2, activity_regularizer="orthogonal_regularizer", name="lx")
    with pytest.raises(ValueError, match="gx weight 'recurrent_kernel' constraint.*axis=2"):
        L.GRU(2, name="gx", recurrent_constraint=C.MaxNorm(axis=2))(L.Input((3, 2)))
