"""Optimizer updates: each native training step against the optimizer's numpy rule.

For every optimizer variant, three train_on_batch steps run; before each step the
native gradients at the current weights are taken with `model._native.gradients` (no
update), and after it every weight must equal `optimizer.reference_update(w, g, slots,
t)` (kcc/optimizers.py: Keras 3's rules in numpy, t the 1-based step) applied to them,
with the optimizer state carried in float64 across the steps. Because the state carries
over, a slot the native code forgets to store, or a wrong bias correction at t > 1, shows
up in steps 2 and 3.

Also checked: the learning rate (and other hyperparameters) are run-time values:
changing `model.optimizer.learning_rate` (or its Keras 1 name `lr`) between steps takes
effect at the next step, without a rebuild; fit() over several batches performs the same
steps as train_on_batch on those batches; train_on_batch returns the loss of the weights
before its update.
"""
import numpy as np
import pytest

import numerics_ref as ref
from kcc import optimizers
from kcc.layers import Dense, Input
from kcc.models import Model

OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(learning_rate=0.1),
    "sgd_momentum": lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9),
    "sgd_nesterov": lambda: optimizers.SGD(learning_rate=0.1, momentum=0.8, nesterov=True),
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=0.01),
    "rmsprop_momentum": lambda: optimizers.RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5),
    "rmsprop_centered": lambda: optimizers.RMSprop(learning_rate=0.01, centered=True),
    "rmsprop_centered_momentum": lambda: optimizers.RMSprop(learning_rate=0.01, momentum=0.3,
                                                            centered=True),
    "adam": lambda: optimizers.Adam(learning_rate=0.01),
    # beta_2 = 0.5 lets the velocity fall when the gradients shrink, so the running
    # maximum of amsgrad differs from the plain velocity at steps 2 and 3
    "adam_amsgrad": lambda: optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.5,
                                            amsgrad=True),
    "adagrad": lambda: optimizers.Adagrad(learning_rate=0.1),
    "adagrad_init": lambda: optimizers.Adagrad(learning_rate=0.05, initial_accumulator_value=0.5),
    "adamw": lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.5),
    "adamw_amsgrad": lambda: optimizers.AdamW(learning_rate=0.01, beta_1=0.8, beta_2=0.5,
                                              amsgrad=True),
    "adamax": lambda: optimizers.Adamax(learning_rate=0.01, beta_2=0.5),
    "nadam": lambda: optimizers.Nadam(learning_rate=0.01),
    "adadelta": lambda: optimizers.Adadelta(learning_rate=1.0, rho=0.8),
    "lion": lambda: optimizers.Lion(learning_rate=0.01, beta_1=0.5),
    # weight decay on kinds that do not default to it (Keras 3's base optimizer's)
    "sgd_momentum_decay": lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9,
                                                 weight_decay=0.3),
    "rmsprop_decay": lambda: optimizers.RMSprop(learning_rate=0.01, weight_decay=0.5),
    "adagrad_decay": lambda: optimizers.Adagrad(learning_rate=0.1, weight_decay=0.5),
    "nadam_decay": lambda: optimizers.Nadam(learning_rate=0.01, weight_decay=0.5),
    "lion_decay": lambda: optimizers.Lion(learning_rate=0.01, weight_decay=2.0),
    # gradient clipping (the batches' gradients have norms of about 0.2 to 3 per weight)
    "sgd_clipnorm": lambda: optimizers.SGD(learning_rate=0.1, clipnorm=0.3),
    "adam_clipvalue": lambda: optimizers.Adam(learning_rate=0.01, clipvalue=0.05),
    "adamw_global_clipnorm": lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.5,
                                                      global_clipnorm=0.5),
    "nadam_clipnorm": lambda: optimizers.Nadam(learning_rate=0.01, clipnorm=0.2),
    "rmsprop_global_clipnorm": lambda: optimizers.RMSprop(learning_rate=0.01,
                                                          global_clipnorm=0.5),
}


def _model(optimizer):
    inp = Input(shape=(5,))
    h = Dense(4, activation="tanh", name="hidden")(inp)
    model = Model(inp, Dense(3, activation="softmax", name="out")(h))
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    return model


def _data(rng, n=16):
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, ref.targets("categorical_crossentropy", rng, n, 3)


def _native_gradients(model, x, y):
    return model._native.gradients(model._x(x), model._y(y))[1]


def _assert_step(before, after, expected, what):
    """The native update (after - before) against the reference one, per weight."""
    for key in expected:
        want = expected[key] - before[key]
        got = after[key] - before[key]
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6 + 1e-4 * np.abs(want).max(),
                                   err_msg=f"{what}: update of {key}")


def _batches(rng, n=16):
    """Three batches whose inputs shrink (x3, x1, x0.2): the gradients shrink from step to
    step, which tells apart rules that keep a maximum or a running average."""
    x, y = _data(rng, n)
    return [(x * s, y) for s in (3.0, 1.0, 0.2)]


def _init_slots(opt, model):
    """Each weight's slots, and under None the optimizer's state for all weights."""
    slots = {k: opt.init_slots(w) for k, w in ref.weights_of(model).items()}
    slots[None] = opt.init_global_state()
    return slots


def _run_steps(model, opt, batches, slots, t0=0, what="", decays=None):
    for t, (x, y) in enumerate(batches, start=t0 + 1):
        before = ref.weights_of(model)
        grads = _native_gradients(model, x, y)
        assert all(np.abs(g).max() > 0 for g in grads.values())
        expected = opt.reference_apply(before, {k: g.astype(np.float64) for k, g in grads.items()},
                                       slots, t, slots[None], decays)
        model.train_on_batch(x, y)
        assert model.optimizer.iterations == t
        _assert_step(before, ref.weights_of(model), expected, f"{what} step {t}")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_three_steps_match_reference_update(name):
    rng = np.random.default_rng(20)
    opt = OPTIMIZERS[name]()
    model = _model(opt)
    assert model.optimizer is opt
    ref.randomize(model, rng, scale=1.5)
    slots = _init_slots(opt, model)
    _run_steps(model, opt, _batches(rng), slots, what=name)


@pytest.mark.parametrize("name,attr,value", [
    ("sgd_momentum", "learning_rate", 0.5), ("adam", "learning_rate", 0.05),
    ("rmsprop", "lr", 0.05),                       # Keras 1 name of the learning rate
    ("sgd_momentum", "momentum", 0.5), ("adam", "beta_1", 0.5), ("rmsprop_centered", "rho", 0.5)])
def test_hyperparameters_change_between_steps_without_rebuild(name, attr, value):
    rng = np.random.default_rng(21)
    opt = OPTIMIZERS[name]()
    model = _model(opt)
    ref.randomize(model, rng, scale=1.5)
    batches = _batches(rng)
    native, library = model._native, model._native.library
    slots = _init_slots(opt, model)
    _run_steps(model, opt, batches[:1], slots, what=name)
    setattr(model.optimizer, attr, value)
    assert getattr(opt, attr) == value
    _run_steps(model, opt, batches[1:], slots, t0=1, what=f"{name} after {attr}={value}")
    assert model._native is native and model._native.library == library


def test_learning_rate_zero_freezes_weights():
    rng = np.random.default_rng(22)
    model = _model(optimizers.Adam(learning_rate=0.01))
    ref.randomize(model, rng)
    x, y = _data(rng)
    model.train_on_batch(x, y)
    model.optimizer.learning_rate = 0.0
    before = ref.weights_of(model)
    model.train_on_batch(x, y)
    for k, w in ref.weights_of(model).items():
        np.testing.assert_array_equal(w, before[k], err_msg=k)


@pytest.mark.parametrize("name", ["sgd_momentum", "adam"])
def test_fit_runs_the_same_steps_as_train_on_batch(name):
    """fit(shuffle=False, batch_size=8) on 24 rows == train_on_batch on the three slices."""
    rng = np.random.default_rng(23)
    x, y = _data(rng, 24)
    results = []
    for use_fit in (True, False):
        model = _model(OPTIMIZERS[name]())
        ref.randomize(model, np.random.default_rng(5), scale=1.5)
        if use_fit:
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        else:
            for i in range(0, 24, 8):
                model.train_on_batch(x[i:i + 8], y[i:i + 8])
        assert model.optimizer.iterations == 3
        results.append(ref.weights_of(model))
    for k in results[0]:
        np.testing.assert_allclose(results[0][k], results[1][k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_train_on_batch_returns_the_loss_before_the_update():
    rng = np.random.default_rng(24)
    model = _model(optimizers.SGD(learning_rate=0.5))
    ref.randomize(model, rng, scale=1.5)
    x, y = _data(rng)
    for _ in range(3):
        before = model.evaluate(x, y, verbose=0)
        assert model.train_on_batch(x, y) == pytest.approx(before, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) < before


@pytest.mark.parametrize("name", ["sgd_nesterov", "rmsprop_centered_momentum", "adam_amsgrad",
                                  "adagrad", "adamw", "nadam", "adadelta", "lion",
                                  "sgd_clipnorm", "adamw_global_clipnorm", "adam_clipvalue"])
@pytest.mark.parametrize("threads", [1, 4])
def test_steps_on_batches_split_across_threads(name, threads):
    """64-row batches, which the runtime may split across threads for the gradient and for
    the update: the steps still follow the reference rule exactly."""
    rng = np.random.default_rng(25)
    opt = OPTIMIZERS[name]()
    model = _model(opt)
    model._native.session.set_threads(threads)
    ref.randomize(model, rng, scale=1.5)
    slots = _init_slots(opt, model)
    _run_steps(model, opt, _batches(rng, n=64), slots, what=f"{name}, {threads} threads")


@pytest.mark.parametrize("name", ["sgd_clipnorm", "adamw_global_clipnorm"])
def test_clipping_sees_the_whole_summed_gradient(name):
    """With 4 threads each holding a quarter of the batch's gradient, the clip norm is the
    summed gradient's: the step equals the 1-thread step (a norm taken of one thread's shard
    would clip less and differ)."""
    rng = np.random.default_rng(27)
    batches = _batches(rng, n=64)
    results = []
    for threads in (1, 4):
        model = _model(OPTIMIZERS[name]())
        model._native.session.set_threads(threads)
        ref.randomize(model, np.random.default_rng(7), scale=1.5)
        for x, y in batches:
            model.train_on_batch(x, y)
        results.append(ref.weights_of(model))
    for k in results[0]:
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_clip_threshold_is_a_run_time_value():
    rng = np.random.default_rng(28)
    opt = OPTIMIZERS["sgd_clipnorm"]()
    model = _model(opt)
    ref.randomize(model, rng, scale=1.5)
    native = model._native
    slots = _init_slots(opt, model)
    batches = _batches(rng)
    _run_steps(model, opt, batches[:1], slots, what="clipnorm=0.3")
    opt.clipnorm = 0.05
    _run_steps(model, opt, batches[1:], slots, t0=1, what="clipnorm=0.05")
    assert model._native is native


def test_fit_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(26)
    x, y = _data(rng, 256)
    results = []
    for threads in (1, 2, 4):
        model = _model(OPTIMIZERS["adam"]())
        model._native.session.set_threads(threads)
        ref.randomize(model, np.random.default_rng(6), scale=1.5)
        model.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
        results.append(ref.weights_of(model))
    for other in results[1:]:
        for k in results[0]:
            np.testing.assert_allclose(other[k], results[0][k], rtol=1e-5, atol=1e-6, err_msg=k)
