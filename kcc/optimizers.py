"""Optimizers: Keras 3's update rules, described as data for the native code.

An optimizer here never touches weights itself. The generated code runs the update
rule (``csrc/include/kcc/ops/optimizers.h``); Python hands it:

======== ===================================== ============================================
kind     hparams() (lr always first)           slots() per weight, in this order
======== ===================================== ============================================
sgd      [lr, momentum, nesterov (0/1)]        [] or [('momentum', 0.)] when momentum > 0
rmsprop  [lr, rho, momentum, epsilon]          [('velocity', 0.)] + [('momentum', 0.)] when
                                               momentum > 0 + [('average_gradient', 0.)]
                                               when centered
adam     [lr, beta_1, beta_2, epsilon]         [('momentum', 0.), ('velocity', 0.)] +
                                               [('velocity_hat', 0.)] when amsgrad
adagrad  [lr, epsilon]                         [('accumulator', initial_accumulator_value)]
======== ===================================== ============================================

``structure_key()`` names what changes the generated code; every value in
``hparams()`` is passed at run time, so changing the learning rate never rebuilds.
``reference_update`` is the numpy statement of each rule that the kernels are tested
against (``t`` is the 1-based step, Keras's ``iterations + 1``).
"""

import math
import warnings

import numpy as np

# Keras arguments kcc knows but does not implement: accepted only at these values.
_INERT_KWARGS = {
    "clipnorm": (None,),
    "clipvalue": (None,),
    "global_clipnorm": (None,),
    "weight_decay": (None, 0, 0.0),
    "use_ema": (False,),
    "loss_scale_factor": (None,),
    "gradient_accumulation_steps": (None,),
}
_IGNORED_KWARGS = ("ema_momentum", "ema_overwrite_frequency", "jit_compile")
# Keras 1/2 learning-rate decay: Keras 3 warns and ignores it, and so does kcc.
_DECAY_WARNING = ("{owner}: argument `decay` is no longer supported and is ignored (as in "
                  "Keras 3). Received: decay={value!r}")


def _number(owner, arg, value, low=0.0, high=math.inf, high_open=False):
    """Validate a float hyperparameter in [low, high] (or [low, high) when high_open)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        x = float(value)
        ok = math.isfinite(x) and low <= x and (x < high if high_open else x <= high)
    if not ok:
        upper = ")" if high_open else "]"
        where = ("a non-negative float" if high == math.inf
                 else f"a float in [{low:g}, {high:g}{upper}")
        raise ValueError(f"Received an invalid value for `{arg}` in {owner}, expected "
                         f"{where}. Received: {arg}={value!r}")
    return x


class Optimizer:
    """Base class: learning rate, step counter, kwargs checks and config."""

    kind = None
    default_learning_rate = 0.001
    HPARAM_NAMES = ()  # the order of hparams(); learning_rate is always first

    def __init__(self, learning_rate=None, name=None, **kwargs):
        lr = kwargs.pop("lr", None)
        if lr is not None and learning_rate is not None:
            raise ValueError(f"{type(self).__name__} received both `lr` and `learning_rate`; "
                             f"pass only `learning_rate` (`lr` is its Keras 1 name). "
                             f"Received: lr={lr!r}, learning_rate={learning_rate!r}")
        if learning_rate is None:
            learning_rate = self.default_learning_rate if lr is None else lr
        self._check_kwargs(kwargs)
        self.learning_rate = learning_rate
        self.name = name or self.kind
        self.iterations = 0  # set by the engine after each step

    def _check_kwargs(self, kwargs):
        owner = type(self).__name__
        for key, value in kwargs.items():
            if key in _IGNORED_KWARGS:
                continue
            if key == "decay":
                if value:
                    warnings.warn(_DECAY_WARNING.format(owner=owner, value=value), stacklevel=4)
                continue
            if key in _INERT_KWARGS:
                if value not in _INERT_KWARGS[key]:
                    raise ValueError(f"{owner}: `{key}` is not supported by kcc yet. "
                                     f"Received: {key}={value!r}")
                continue
            names = [n for n in self._config_names() if n != "learning_rate"]
            valid = ", ".join(["learning_rate (or lr)"] + names + ["name"])
            raise ValueError(f"{owner} got an unexpected keyword argument `{key}`. "
                            f"Valid arguments: {valid}. Received: {key}={value!r}")

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = _number(type(self).__name__, "learning_rate", value)

    lr = learning_rate  # Keras 1/2 name, same property

    def hparams(self):
        """Run-time values for the native update, in HPARAM_NAMES order."""
        return [float(getattr(self, n)) for n in self.HPARAM_NAMES]

    def slots(self):
        """[(slot_name, initial_value)] of per-weight state the native code allocates."""
        raise NotImplementedError

    def structure_key(self):
        """What changes the generated code (never values passed at run time)."""
        raise NotImplementedError

    def init_slots(self, w):
        """Slot arrays for a weight ``w``, for reference_update."""
        return {n: np.full(np.shape(w), v, dtype=np.asarray(w).dtype) for n, v in self.slots()}

    def reference_update(self, w, g, slots, t):
        """One Keras 3 step in numpy: returns the new weight, replaces ``slots`` values."""
        raise NotImplementedError

    def get_config(self):
        config = {"name": self.name}
        config.update({n: getattr(self, n) for n in self._config_names()})
        return config

    def _config_names(self):
        return self.HPARAM_NAMES

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """SGD(learning_rate=0.01, momentum=0.0, nesterov=False)."""

    kind = "sgd"
    default_learning_rate = 0.01
    HPARAM_NAMES = ("learning_rate", "momentum", "nesterov")

    def __init__(self, learning_rate=None, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.momentum = _number("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def slots(self):
        return [("momentum", 0.0)] if self.momentum > 0 else []

    def structure_key(self):
        has_momentum = self.momentum > 0
        return ("sgd", has_momentum, has_momentum and self.nesterov)

    def reference_update(self, w, g, slots, t):
        lr, mu = self.learning_rate, self.momentum
        if mu == 0:
            return w - lr * g
        m = mu * slots["momentum"] - lr * g
        slots["momentum"] = m
        return w + (mu * m - lr * g if self.nesterov else m)


class RMSprop(Optimizer):
    """RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False)."""

    kind = "rmsprop"
    HPARAM_NAMES = ("learning_rate", "rho", "momentum", "epsilon")

    def __init__(self, learning_rate=None, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.rho = _number("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _number("RMSprop", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _number("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)

    def _config_names(self):
        return self.HPARAM_NAMES + ("centered",)

    def slots(self):
        slots = [("velocity", 0.0)]
        if self.momentum > 0:
            slots.append(("momentum", 0.0))
        if self.centered:
            slots.append(("average_gradient", 0.0))
        return slots

    def structure_key(self):
        return ("rmsprop", self.momentum > 0, self.centered)

    def reference_update(self, w, g, slots, t):
        rho = self.rho
        v = rho * slots["velocity"] + (1 - rho) * g * g
        slots["velocity"] = v
        if self.centered:
            a = rho * slots["average_gradient"] + (1 - rho) * g
            slots["average_gradient"] = a
            denominator = v - a * a + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = self.learning_rate * g / np.sqrt(denominator)
        if self.momentum > 0:
            slots["momentum"] = self.momentum * slots["momentum"] + increment
            return w - slots["momentum"]
        return w - increment


class Adam(Optimizer):
    """Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)."""

    kind = "adam"
    HPARAM_NAMES = ("learning_rate", "beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name="adam", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1 = _number("Adam", "beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _number("Adam", "beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = _number("Adam", "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _config_names(self):
        return self.HPARAM_NAMES + ("amsgrad",)

    def slots(self):
        slots = [("momentum", 0.0), ("velocity", 0.0)]
        return slots + [("velocity_hat", 0.0)] if self.amsgrad else slots

    def structure_key(self):
        return ("adam", self.amsgrad)

    def reference_update(self, w, g, slots, t):
        b1, b2 = self.beta_1, self.beta_2
        alpha = self.learning_rate * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = slots["momentum"] + (g - slots["momentum"]) * (1 - b1)
        v = slots["velocity"] + (g * g - slots["velocity"]) * (1 - b2)
        slots["momentum"], slots["velocity"] = m, v
        if self.amsgrad:
            v = np.maximum(slots["velocity_hat"], v)
            slots["velocity_hat"] = v
        return w - alpha * m / (np.sqrt(v) + self.epsilon)


class Adagrad(Optimizer):
    """Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7)."""

    kind = "adagrad"
    HPARAM_NAMES = ("learning_rate", "epsilon")

    def __init__(self, learning_rate=None, initial_accumulator_value=0.1, epsilon=1e-7,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.initial_accumulator_value = _number("Adagrad", "initial_accumulator_value",
                                                 initial_accumulator_value)
        self.epsilon = _number("Adagrad", "epsilon", epsilon)

    def _config_names(self):
        return ("learning_rate", "initial_accumulator_value", "epsilon")

    def slots(self):
        return [("accumulator", self.initial_accumulator_value)]

    def structure_key(self):
        return ("adagrad",)

    def reference_update(self, w, g, slots, t):
        acc = slots["accumulator"] + g * g
        slots["accumulator"] = acc
        return w - self.learning_rate * g / np.sqrt(acc + self.epsilon)


# Keras 1/2 module-level aliases.
sgd, rmsprop, adam, adagrad = SGD, RMSprop, Adam, Adagrad

_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adagrad": Adagrad}


def get(identifier):
    """An Optimizer from a name ('adam', case-insensitive), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _lookup(identifier["class_name"])
        return cls.from_config(dict(identifier.get("config") or {}))
    if isinstance(identifier, str):
        return _lookup(identifier)()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}. Expected one of "
                     f"{sorted(_BY_NAME)} or an optimizer instance such as "
                     f"kcc.optimizers.RMSprop(learning_rate=0.001)")


def _lookup(name):
    cls = _BY_NAME.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer: {name!r}. Valid names: {sorted(_BY_NAME)} "
                         f"(case-insensitive)")
    return cls


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    return get(config)
