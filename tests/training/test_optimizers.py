"""Optimizers: Keras 3 update rules (three steps, hand-computed), arguments, data for codegen."""

import numpy as np
import pytest

from kcc import optimizers

GRADS = [0.5, -0.3, 0.2]


def run(opt, grads=GRADS, w0=1.0):
    """Three reference steps on a 2-element weight; returns w after each step."""
    w = np.full(2, w0)
    slots = opt.init_slots(w)
    out = []
    for t, g in enumerate(grads, 1):
        w = opt.reference_update(w, np.full(2, g), slots, t)
        out.append(w[0])
    return out


# Expected weights after steps 1, 2, 3 from w=1 with gradients 0.5, -0.3, 0.2.
CASES = [
    # SGD: w -= lr*g  ->  1 - 0.05, + 0.03, - 0.02
    (optimizers.SGD(learning_rate=0.1), [0.95, 0.98, 0.96]),
    # m = 0.9m - 0.1g: -0.05, -0.015, -0.0335; w += m
    (optimizers.SGD(learning_rate=0.1, momentum=0.9), [0.95, 0.935, 0.9015]),
    # nesterov: w += 0.9m - 0.1g: -0.095, +0.0165, -0.05015
    (optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True), [0.905, 0.9215, 0.87135]),
    (optimizers.RMSprop(learning_rate=0.01),
     [0.968377286644, 0.985280344908, 0.974160667660]),
    (optimizers.RMSprop(learning_rate=0.01, centered=True),
     [0.966666740740, 0.983630492214, 0.972312772004]),
    (optimizers.RMSprop(learning_rate=0.01, momentum=0.5),
     [0.968377286644, 0.969468988230, 0.958895161774]),
    (optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
     [0.966666740740, 0.966963862584, 0.955794703296]),
    (optimizers.Adam(learning_rate=0.01), [0.990000063245, 0.988085093282, 0.984610834206]),
    (optimizers.Adagrad(learning_rate=0.1), [0.915484586601, 0.960711283148, 0.931843772696]),
]


@pytest.mark.parametrize("opt,expected", CASES, ids=lambda x: repr(x)[:40])
def test_reference_update_three_steps(opt, expected):
    np.testing.assert_allclose(run(opt), expected, rtol=0, atol=1e-11)


def test_rmsprop_first_step_by_hand():
    # v = 0.1 * 0.25; w = 1 - 0.01 * 0.5 / sqrt(v + 1e-7)
    expected = 1 - 0.01 * 0.5 / np.sqrt(0.025 + 1e-7)
    assert run(optimizers.RMSprop(learning_rate=0.01))[0] == pytest.approx(expected, abs=1e-15)


def test_adam_first_step_by_hand():
    # m = 0.05, v = 0.00025, alpha = 0.01 * sqrt(1 - 0.999) / (1 - 0.9)
    alpha = 0.01 * np.sqrt(0.001) / 0.1
    expected = 1 - alpha * 0.05 / (np.sqrt(0.00025) + 1e-7)
    assert run(optimizers.Adam(learning_rate=0.01))[0] == pytest.approx(expected, abs=1e-15)


def test_amsgrad_uses_the_largest_velocity():
    # The velocity falls after a large first gradient; amsgrad keeps the maximum.
    grads = [1.0, 0.01, 0.01]
    plain = run(optimizers.Adam(learning_rate=0.01), grads)
    ams = run(optimizers.Adam(learning_rate=0.01, amsgrad=True), grads)
    np.testing.assert_allclose(plain, [0.990000031623, 0.983225358663, 0.977924840458], atol=1e-11)
    np.testing.assert_allclose(ams, [0.990000031623, 0.983228407942, 0.977932659950], atol=1e-11)


def test_float32_weights_stay_float32():
    opt = optimizers.Adam()
    w = np.ones(3, np.float32)
    slots = opt.init_slots(w)
    w = opt.reference_update(w, np.full(3, 0.5, np.float32), slots, 1)
    assert w.dtype == np.float32 and slots["momentum"].dtype == np.float32


def test_hparams_order_lr_first():
    assert optimizers.SGD(0.1, 0.9, True).hparams() == [0.1, 0.9, 1.0]
    assert optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, epsilon=1e-6).hparams() == \
        [0.01, 0.8, 0.5, 1e-6]
    assert optimizers.Adam(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-8).hparams() == \
        [0.02, 0.8, 0.99, 1e-8]
    assert optimizers.Adagrad(0.05, epsilon=1e-6).hparams() == [0.05, 1e-6]
    for cls in (optimizers.SGD, optimizers.RMSprop, optimizers.Adam, optimizers.Adagrad):
        assert cls.HPARAM_NAMES[0] == "learning_rate"
        assert len(cls.HPARAM_NAMES) == len(cls().hparams())


def test_slots_per_kind():
    assert optimizers.SGD().slots() == []
    assert optimizers.SGD(momentum=0.9).slots() == [("momentum", 0.0)]
    assert optimizers.RMSprop().slots() == [("velocity", 0.0)]
    assert optimizers.RMSprop(momentum=0.9, centered=True).slots() == \
        [("velocity", 0.0), ("momentum", 0.0), ("average_gradient", 0.0)]
    assert optimizers.Adam().slots() == [("momentum", 0.0), ("velocity", 0.0)]
    assert optimizers.Adam(amsgrad=True).slots()[-1] == ("velocity_hat", 0.0)
    assert optimizers.Adagrad(initial_accumulator_value=0.2).slots() == [("accumulator", 0.2)]


def test_structure_key_ignores_run_time_values():
    assert optimizers.Adam(0.1).structure_key() == optimizers.Adam(0.5, beta_1=0.5).structure_key()
    assert optimizers.Adam().structure_key() != optimizers.Adam(amsgrad=True).structure_key()
    assert optimizers.SGD(momentum=0.5).structure_key() == \
        optimizers.SGD(momentum=0.9).structure_key()
    assert optimizers.SGD().structure_key() != optimizers.SGD(momentum=0.9).structure_key()
    # nesterov without momentum is plain SGD, as in Keras
    assert optimizers.SGD(nesterov=True).structure_key() == optimizers.SGD().structure_key()
    assert optimizers.RMSprop().structure_key() != optimizers.RMSprop(centered=True).structure_key()


def test_defaults_are_keras_3():
    assert optimizers.SGD().learning_rate == 0.01
    assert optimizers.RMSprop().hparams() == [0.001, 0.9, 0.0, 1e-7]
    assert optimizers.Adam().hparams() == [0.001, 0.9, 0.999, 1e-7]
    assert optimizers.Adagrad().slots() == [("accumulator", 0.1)]


def test_lr_and_learning_rate():
    opt = optimizers.RMSprop(lr=0.01)
    assert opt.learning_rate == 0.01 and opt.lr == 0.01
    assert run(optimizers.SGD(lr=0.1)) == run(optimizers.SGD(learning_rate=0.1))
    opt.lr = 0.5
    assert opt.hparams()[0] == 0.5
    opt.learning_rate = 0.25
    assert opt.lr == 0.25
    with pytest.raises(ValueError, match="both `lr` and `learning_rate`"):
        optimizers.Adam(lr=0.1, learning_rate=0.1)


def test_unknown_kwarg_names_optimizer_and_argument():
    with pytest.raises(ValueError, match=r"Adagrad got an unexpected keyword argument `beta_1`"):
        optimizers.Adagrad(beta_1=0.9)


@pytest.mark.parametrize("make,arg", [
    (lambda: optimizers.SGD(learning_rate=-0.1), "learning_rate"),
    (lambda: optimizers.SGD(momentum=1.5), "momentum"),
    (lambda: optimizers.SGD(momentum=-0.1), "momentum"),
    (lambda: optimizers.RMSprop(rho=2), "rho"),
    (lambda: optimizers.Adam(beta_1=1.0), "beta_1"),
    (lambda: optimizers.Adam(epsilon=-1), "epsilon"),
    (lambda: optimizers.Adam(learning_rate="fast"), "learning_rate"),
    (lambda: optimizers.Adagrad(initial_accumulator_value=float("nan")),
     "initial_accumulator_value"),
])
def test_invalid_values(make, arg):
    with pytest.raises(ValueError, match=rf"invalid value for `{arg}`.*Received: {arg}="):
        make()


def test_setting_a_bad_learning_rate_later_is_rejected():
    opt = optimizers.SGD()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1


def test_keras_arguments_kcc_does_not_implement():
    with pytest.warns(UserWarning, match="decay"):
        optimizers.SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    optimizers.Adam(clipnorm=None, weight_decay=None)  # defaults are fine
    with pytest.raises(ValueError, match="`use_ema` is not supported"):
        optimizers.AdamW(use_ema=True)


def test_get():
    for name, cls in [("sgd", optimizers.SGD), ("RMSprop", optimizers.RMSprop),
                      ("ADAM", optimizers.Adam), ("adagrad", optimizers.Adagrad),
                      ("adamw", optimizers.AdamW), ("AdamW", optimizers.AdamW),
                      ("adamax", optimizers.Adamax), ("nadam", optimizers.Nadam),
                      ("Adadelta", optimizers.Adadelta), ("lion", optimizers.Lion)]:
        opt = optimizers.get(name)
        assert type(opt) is cls and opt.kind == cls.kind
    opt = optimizers.Adam(0.1)
    assert optimizers.get(opt) is opt
    with pytest.raises(ValueError, match=r"Unknown optimizer: 'ftrl'.*'adadelta', 'adagrad'"):
        optimizers.get("ftrl")
    with pytest.raises(ValueError, match="Could not interpret optimizer"):
        optimizers.get(3)


def test_config_round_trip():
    opt = optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True)
    again = optimizers.RMSprop.from_config(opt.get_config())
    assert again.get_config() == opt.get_config()
    assert again.structure_key() == opt.structure_key()
    clone = optimizers.get(optimizers.serialize(optimizers.Adam(amsgrad=True)))
    assert clone.amsgrad and clone.name == "adam"


def test_iterations_is_a_plain_counter():
    opt = optimizers.Adam()
    assert opt.iterations == 0
    opt.iterations = 10
    assert opt.iterations == 10


NEW = ["AdamW", "Adamax", "Nadam", "Adadelta", "Lion"]


@pytest.mark.parametrize("name", NEW + ["SGD", "RMSprop", "Adam", "Adagrad"])
def test_arguments_and_defaults_are_keras_3(name):
    """Every argument Keras 3's class takes with its default, in kcc's config: the same
    names and values (learning rate, weight decay, the kind's own)."""
    from keras_parity import keras
    theirs = getattr(keras().optimizers, name)().get_config()
    ours = getattr(optimizers, name)().get_config()
    for key, value in ours.items():
        if key != "name":
            assert key in theirs and theirs[key] == pytest.approx(value), key
    assert ours["weight_decay"] == (0.004 if name == "AdamW" else None)


@pytest.mark.parametrize("name", NEW)
def test_config_round_trip_of_the_new_optimizers(name):
    cls = getattr(optimizers, name)
    opt = cls(learning_rate=0.02, weight_decay=0.25)
    again = optimizers.get(optimizers.serialize(opt))
    assert type(again) is cls and again.get_config() == opt.get_config()
    assert again.hparams() == opt.hparams() and again.structure_key() == opt.structure_key()
    assert opt.hparam_names()[-1] == "weight_decay" and opt.hparams()[-1] == 0.25


def test_weight_decay_is_a_run_time_value_and_its_presence_structure():
    assert optimizers.Adam(weight_decay=0.1).structure_key() == \
        optimizers.Adam(weight_decay=0.5).structure_key()
    assert optimizers.Adam(weight_decay=0.1).structure_key() != optimizers.Adam().structure_key()
    # 0 decays nothing: no code for it (Keras multiplies by 1)
    assert optimizers.Adam(weight_decay=0.0).structure_key() == optimizers.Adam().structure_key()
    assert optimizers.AdamW().hparam_names() == ["learning_rate", "beta_1", "beta_2", "epsilon",
                                                 "weight_decay"]


def test_weight_decay_by_hand():
    # SGD(0.1, weight_decay=0.5): w *= 1 - 0.05, then w -= 0.1 g
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    w = opt.reference_apply({"d/kernel": np.array([2.0])}, {"d/kernel": np.array([1.0])},
                            {"d/kernel": {}}, 1)
    assert w["d/kernel"][0] == pytest.approx(2.0 * 0.95 - 0.1)


def test_exclude_from_weight_decay():
    from kcc.layers import Dense, Input
    opt = optimizers.AdamW()
    assert opt.uses_weight_decay("dense_1/kernel") and opt.uses_weight_decay("dense_1/bias")
    opt.exclude_from_weight_decay(var_names=["bias"])
    assert opt.uses_weight_decay("dense_1/kernel") and not opt.uses_weight_decay("dense_1/bias")
    # Keras matches the variable's own name, not the layer's
    opt.exclude_from_weight_decay(var_names=["dense"])
    assert opt.uses_weight_decay("dense_1/kernel")
    layer = Dense(2)
    layer(Input(shape=(3,)))
    opt.exclude_from_weight_decay(var_list=[layer.kernel])
    assert not opt.uses_weight_decay("x/kernel", layer.kernel.value)
    assert opt.uses_weight_decay("x/bias", layer.bias.value)
    assert not optimizers.Adam().uses_weight_decay("dense_1/kernel")   # no weight decay
    with pytest.raises(ValueError, match="var_list takes a layer's weights"):
        opt.exclude_from_weight_decay(var_list=[np.zeros(3)])
    with pytest.raises(ValueError, match="var_names takes strings"):
        opt.exclude_from_weight_decay(var_names=[3])


@pytest.mark.parametrize("make,match", [
    (lambda: optimizers.AdamW(weight_decay=None), r"`weight_decay` must be a float"),
    (lambda: optimizers.Adam(weight_decay=-0.1), r"invalid value for `weight_decay` in Adam"),
    (lambda: optimizers.SGD(weight_decay="big"), r"invalid value for `weight_decay` in SGD"),
    (lambda: optimizers.Lion(beta_1=0.0), r"`beta_1` must be in the \[0, 1\] range"),
    (lambda: optimizers.Lion(beta_1=1.5), r"`beta_1` must be in the \[0, 1\] range"),
    (lambda: optimizers.Nadam(beta_1=1.0), r"invalid value for `beta_1` in Nadam"),
    (lambda: optimizers.Adamax(epsilon=-1), r"invalid value for `epsilon` in Adamax"),
    (lambda: optimizers.Adadelta(rho=1.5), r"invalid value for `rho` in Adadelta"),
    (lambda: optimizers.AdamW(rho=0.9), r"AdamW got an unexpected keyword argument `rho`"),
    (lambda: optimizers.Adam(clipnorm=1.0, clipvalue=1.0),
     r"Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_turning_weight_decay_on_after_compile_asks_for_compile():
    from kcc.layers import Dense, Input
    from kcc.models import Model
    inp = Input(shape=(3,))
    model = Model(inp, Dense(2)(inp))
    model.compile(optimizers.Adam(), "mse")
    x, y = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    model.optimizer.weight_decay = 0.1
    with pytest.raises(ValueError, match="call compile\\(\\) again"):
        model.fit(x, y, verbose=0)
    model.compile(model.optimizer, "mse")
    model.fit(x, y, verbose=0)


@pytest.mark.parametrize("name", NEW)
def test_a_keras_config_loads(name):
    """Keras 3's get_config (with its EMA, loss scale and accumulation entries at their
    defaults) makes the same optimizer in kcc."""
    from keras_parity import keras
    config = getattr(keras().optimizers, name)(learning_rate=0.02, weight_decay=0.1).get_config()
    opt = getattr(optimizers, name).from_config(config)
    assert opt.learning_rate == pytest.approx(0.02) and opt.weight_decay == 0.1


def test_clipping_arguments():
    opt = optimizers.SGD(clipnorm=1.5)
    assert opt.clip() == ("clipnorm", 1.5) and opt.hparam_names()[-1] == "clipnorm"
    assert opt.get_config()["clipnorm"] == 1.5 and opt.get_config()["clipvalue"] is None
    opt = optimizers.AdamW(global_clipnorm=2.0)
    assert opt.hparam_names()[-2:] == ["weight_decay", "global_clipnorm"]
    assert opt.hparams()[-2:] == [0.004, 2.0]
    # the threshold is a run-time value, which one is set is structure
    assert optimizers.Adam(clipvalue=1.0).structure_key() == \
        optimizers.Adam(clipvalue=3.0).structure_key()
    assert len({optimizers.Adam(**{a: 1.0}).structure_key()
                for a in ("clipnorm", "clipvalue", "global_clipnorm")}) == 3
    # 0 clips nothing, as Keras's `if self.clipnorm and self.clipnorm > 0`
    assert optimizers.Adam(clipnorm=0.0).clip() is None
    assert optimizers.Adam(clipnorm=0.0).structure_key() == optimizers.Adam().structure_key()
    for arg in ("clipnorm", "clipvalue", "global_clipnorm"):
        with pytest.raises(ValueError, match=f"invalid value for `{arg}` in Lion"):
            optimizers.Lion(**{arg: -1.0})
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and "
                                         "`global_clipnorm` can be set"):
        optimizers.SGD(clipnorm=0.0, global_clipnorm=1.0)    # Keras counts `is not None`
    again = optimizers.get(optimizers.serialize(optimizers.Nadam(clipvalue=0.5)))
    assert again.clipvalue == 0.5 and again.clip() == ("clipvalue", 0.5)


def test_clipping_by_hand():
    ws = {"a/kernel": np.array([1.0, 1.0]), "b/kernel": np.array([1.0])}
    gs = {"a/kernel": np.array([3.0, 4.0]), "b/kernel": np.array([-12.0])}
    sgd = lambda **kw: optimizers.SGD(learning_rate=1.0, **kw).reference_apply(
        ws, gs, {k: {} for k in ws}, 1)
    # per weight: ||(3, 4)|| = 5 -> (0.6, 0.8); ||-12|| = 12 -> -1
    out = sgd(clipnorm=1.0)
    np.testing.assert_allclose(out["a/kernel"], [0.4, 0.2])
    np.testing.assert_allclose(out["b/kernel"], [2.0])
    # global: ||(3, 4, -12)|| = 13 -> every gradient times 1/13
    out = sgd(global_clipnorm=1.0)
    np.testing.assert_allclose(out["a/kernel"], [1 - 3 / 13, 1 - 4 / 13])
    np.testing.assert_allclose(out["b/kernel"], [1 + 12 / 13])
    out = sgd(clipvalue=3.5)
    np.testing.assert_allclose(out["a/kernel"], [-2.0, -2.5])
    np.testing.assert_allclose(out["b/kernel"], [4.5])
    # a norm under the threshold leaves the gradient as it is
    out = sgd(global_clipnorm=100.0)
    np.testing.assert_allclose(out["a/kernel"], [-2.0, -3.0])


def test_learning_rate_schedules_are_refused_by_name():
    from keras_parity import keras
    schedule = keras().optimizers.schedules.ExponentialDecay(0.1, 100, 0.9)
    with pytest.raises(ValueError, match="AdamW: learning-rate schedules are not supported"):
        optimizers.AdamW(learning_rate=schedule)
    config = keras().optimizers.Adam(learning_rate=schedule).get_config()
    with pytest.raises(ValueError, match="Adam: learning-rate schedules are not supported"):
        optimizers.Adam.from_config(config)
    with pytest.raises(ValueError, match="SGD: learning-rate schedules are not supported"):
        optimizers.SGD(learning_rate=lambda: 0.1)
