"""The optimizers against Keras 3 itself (torch backend): each rule's numpy reference
(reference_apply: clipping, weight decay, the update) against keras.optimizers applied to
the same variables and gradients for a few steps, and kcc's native training against
Keras's fit on the same model, weights and data."""
import numpy as np
import pytest

import kcc
from kcc import optimizers
from keras_parity import assert_optimizer_trains_as_keras, keras

# (kcc class name = keras class name, keyword arguments): every kind, weight decay on
# kinds that do not default to it, exclusions by name
CASES = [
    ("SGD", dict(learning_rate=0.1, momentum=0.9, weight_decay=0.3)),
    ("SGD", dict(learning_rate=0.1, momentum=0.8, nesterov=True)),
    ("RMSprop", dict(learning_rate=0.01, momentum=0.5, centered=True, weight_decay=0.5)),
    ("Adam", dict(learning_rate=0.01, weight_decay=0.5)),
    ("Adagrad", dict(learning_rate=0.1, weight_decay=0.5)),
    ("AdamW", dict(learning_rate=0.01)),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.5, amsgrad=True, beta_2=0.5)),
    ("Adamax", dict(learning_rate=0.01, beta_2=0.5)),
    ("Nadam", dict(learning_rate=0.01)),
    ("Nadam", dict(learning_rate=0.01, beta_1=0.7, weight_decay=0.5)),
    ("Adadelta", dict(learning_rate=1.0, rho=0.8)),
    ("Adadelta", dict(learning_rate=0.5, weight_decay=0.2)),
    ("Lion", dict(learning_rate=0.01, beta_1=0.5)),
    ("Lion", dict(learning_rate=0.01, weight_decay=2.0)),
    # gradient clipping, alone and before weight decay (the gradients' norms are 0.5 to 6)
    ("SGD", dict(learning_rate=0.1, clipnorm=0.5)),
    ("SGD", dict(learning_rate=0.1, momentum=0.5, global_clipnorm=0.7)),
    ("Adam", dict(learning_rate=0.01, clipvalue=0.3)),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.5, clipnorm=0.5)),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.5, global_clipnorm=0.7)),
    ("Nadam", dict(learning_rate=0.01, clipvalue=0.3)),
    ("RMSprop", dict(learning_rate=0.01, global_clipnorm=0.7)),
    ("Adagrad", dict(learning_rate=0.1, clipnorm=0.5)),
    ("Adadelta", dict(learning_rate=1.0, global_clipnorm=0.7)),
    ("Lion", dict(learning_rate=0.01, clipnorm=0.5, weight_decay=1.0)),
    ("Adamax", dict(learning_rate=0.01, clipvalue=0.3)),
]


def _ids(case):
    return case[0] + "(" + ",".join(f"{k}={v}" for k, v in case[1].items()) + ")"


def _keras_steps(name, kwargs, ws, grads, exclude=None):
    """Keras's optimizer applied to variables named as `ws`'s keys, one step per grads."""
    k = keras()
    opt = getattr(k.optimizers, name)(**kwargs)
    if exclude:
        opt.exclude_from_weight_decay(var_names=exclude)
    vs = [k.Variable(w.astype(np.float32), name=n.rsplit("/", 1)[-1]) for n, w in ws.items()]
    for gs in grads:
        opt.apply([k.ops.convert_to_tensor(gs[n].astype(np.float32)) for n in ws], vs)
    return {n: k.ops.convert_to_numpy(v.value) for n, v in zip(ws, vs)}


def _reference_steps(opt, ws, grads):
    slots = {n: opt.init_slots(w) for n, w in ws.items()}
    state = opt.init_global_state()
    for t, gs in enumerate(grads, 1):
        ws = opt.reference_apply(ws, gs, slots, t, state)
    return ws


def _problem(rng, steps=4):
    ws = {"dense/kernel": rng.normal(size=(3, 2)), "dense/bias": rng.normal(size=2)}
    # shrinking gradients: running maxima and averages differ from the last gradient
    grads = [{n: rng.normal(size=w.shape) * s for n, w in ws.items()}
             for s in (3.0, 1.0, 0.2, 0.5)[:steps]]
    return ws, grads


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_reference_rule_is_keras(case):
    name, kwargs = case
    ws, grads = _problem(np.random.default_rng(1))
    want = _keras_steps(name, kwargs, ws, grads)
    got = _reference_steps(getattr(optimizers, name)(**kwargs), ws, grads)
    for n in ws:
        np.testing.assert_allclose(got[n], want[n], rtol=2e-5, atol=2e-6, err_msg=n)
        assert np.abs(got[n] - ws[n]).max() > 1e-3   # it moved


def test_exclude_from_weight_decay_by_name_is_keras():
    ws, grads = _problem(np.random.default_rng(2))
    want = _keras_steps("AdamW", dict(learning_rate=0.01, weight_decay=0.5), ws, grads,
                        exclude=["bias"])
    opt = optimizers.AdamW(learning_rate=0.01, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    got = _reference_steps(opt, ws, grads)
    for n in ws:
        np.testing.assert_allclose(got[n], want[n], rtol=2e-5, atol=2e-6, err_msg=n)
    plain = _reference_steps(optimizers.AdamW(learning_rate=0.01, weight_decay=0.5), ws, grads)
    assert np.abs(plain["dense/bias"] - got["dense/bias"]).max() > 1e-4
    np.testing.assert_array_equal(plain["dense/kernel"], got["dense/kernel"])


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_fit_is_keras(case):
    assert_optimizer_trains_as_keras(*case)


def test_fit_with_exclusions_is_keras():
    assert_optimizer_trains_as_keras("AdamW", dict(learning_rate=0.05, weight_decay=0.5), exclude=["bias"])
