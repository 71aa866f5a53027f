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
adamw    as adam (weight_decay defaults to     as adam
         0.004)
adamax   [lr, beta_1, beta_2, epsilon]         [('momentum', 0.), ('norm', 0.)]
nadam    [lr, beta_1, beta_2, epsilon]         [('momentum', 0.), ('velocity', 0.)], and
                                               u_product, one float for all weights
                                               (GLOBAL_STATE, below)
adadelta [lr, rho, epsilon]                    [('accumulated_grad', 0.),
                                               ('accumulated_delta_var', 0.)]
lion     [lr, beta_1, beta_2]                  [('momentum', 0.)]
======== ===================================== ============================================

Every optimizer also takes Keras 3's base arguments ``weight_decay``, ``clipnorm``,
``clipvalue`` and ``global_clipnorm``; when set, their values follow the kind's in
``hparams()`` (``hparam_names()`` says the order). Keras 3's order within a step is kept:
clip the gradients, decay the weights (``w *= 1 - weight_decay * lr``, every trainable
weight but those ``exclude_from_weight_decay`` names), then the update.

``structure_key()`` names what changes the generated code; every value in
``hparams()`` is passed at run time, so changing the learning rate never rebuilds.
``reference_update`` is the numpy statement of each rule that the kernels are tested
against (``t`` is the 1-based step, Keras's ``iterations + 1``).
"""

import math
import re
import warnings

import numpy as np

# Keras arguments kcc knows but does not implement: accepted only at these values.
_INERT_KWARGS = {
    "use_ema": (False,),
    "loss_scale_factor": (None,),
    "gradient_accumulation_steps": (None,),
}
_IGNORED_KWARGS = ("ema_momentum", "ema_overwrite_frequency", "jit_compile")
_CLIP_ARGS = ("clipnorm", "clipvalue", "global_clipnorm")
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


def _optional(owner, arg, value):
    """None, or a non-negative float (weight_decay and the clip thresholds)."""
    return None if value is None else _number(owner, arg, value)


class Optimizer:
    """Base class: learning rate, step counter, Keras 3's base arguments (weight decay and
    gradient clipping), kwargs checks and config."""

    kind = None
    default_learning_rate = 0.001
    default_weight_decay = None
    HPARAM_NAMES = ()  # the kind's part of hparams(); learning_rate is always first
    GLOBAL_STATE = 0   # floats of state for all weights together (Nadam's u_product)

    def __init__(self, learning_rate=None, name=None, weight_decay="default", clipnorm=None,
                 clipvalue=None, global_clipnorm=None, **kwargs):
        lr = kwargs.pop("lr", None)
        if lr is not None and learning_rate is not None:
            raise ValueError(f"{type(self).__name__} received both `lr` and `learning_rate`; "
                             f"pass only `learning_rate` (`lr` is its Keras 1 name). "
                             f"Received: lr={lr!r}, learning_rate={learning_rate!r}")
        if learning_rate is None:
            learning_rate = self.default_learning_rate if lr is None else lr
        self._check_kwargs(kwargs)
        owner = type(self).__name__
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:   # Keras's check and wording
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                             f"set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        for arg, value in clips.items():
            setattr(self, arg, _optional(owner, arg, value))
        self.weight_decay = self.default_weight_decay if weight_decay == "default" else weight_decay
        self.learning_rate = learning_rate
        self.name = name or self.kind
        self.iterations = 0  # set by the engine after each step
        self._exclude_names = ()      # exclude_from_weight_decay(var_names=...)
        self._exclude_ids = frozenset()  # ... and var_list=: ids of the weights' buffers

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
            valid = ", ".join(["learning_rate (or lr)"] + names
                              + ["weight_decay", *_CLIP_ARGS, "name"])
            raise ValueError(f"{owner} got an unexpected keyword argument `{key}`. "
                            f"Valid arguments: {valid}. Received: {key}={value!r}")

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if callable(value) or isinstance(value, dict):
            # a keras.optimizers.schedules object, its config, or a function
            raise ValueError(f"{type(self).__name__}: learning-rate schedules are not supported "
                             f"by kcc yet; `learning_rate` takes a float (for a schedule per "
                             f"epoch, use kcc.callbacks.LearningRateScheduler). "
                             f"Received: learning_rate={value!r}")
        self._learning_rate = _number(type(self).__name__, "learning_rate", value)

    lr = learning_rate  # Keras 1/2 name, same property

    @property
    def weight_decay(self):
        return self._weight_decay

    @weight_decay.setter
    def weight_decay(self, value):
        self._weight_decay = _optional(type(self).__name__, "weight_decay", value)

    # -- weight decay and clipping ---------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """As Keras 3: no weight decay for the weights in var_list (a layer's weights, e.g.
        layer.weights[1] or layer.bias) nor for those whose name (Keras's variable name,
        'kernel', 'bias', ...) contains one of var_names (re.search). Takes effect at the
        next compile()."""
        ids = set()
        for v in var_list or ():
            value = getattr(v, "value", None)
            if not isinstance(value, np.ndarray):
                raise ValueError(f"{type(self).__name__}.exclude_from_weight_decay: var_list "
                                 f"takes a layer's weights (layer.weights, layer.kernel); "
                                 f"received {v!r}")
            ids.add(id(value))
        names = tuple(var_names or ())
        for n in names:
            if not isinstance(n, str):
                raise ValueError(f"{type(self).__name__}.exclude_from_weight_decay: var_names "
                                 f"takes strings; received {n!r}")
        self._exclude_ids, self._exclude_names = frozenset(ids), names

    def uses_weight_decay(self, name, buffer=None):
        """Keras's _use_weight_decay for a weight named `name` ('dense_1/kernel': the part
        after the last '/' is Keras's variable name) whose buffer is `buffer`."""
        if not self.weight_decay:
            return False
        if buffer is not None and id(buffer) in self._exclude_ids:
            return False
        short = name.rsplit("/", 1)[-1]
        pattern = "|".join(sorted(set(self._exclude_names)))
        return not (pattern and re.search(pattern, short))

    def clip(self):
        """('clipnorm' | 'clipvalue' | 'global_clipnorm', value), or None. A threshold of 0
        clips nothing, as in Keras (`if self.clipnorm and self.clipnorm > 0`)."""
        for arg in _CLIP_ARGS:
            value = getattr(self, arg)
            if value:
                return arg, value
        return None

    def hparam_names(self):
        """The names of hparams(), in order: the kind's, then weight_decay and the clip
        threshold when set."""
        names = list(self.HPARAM_NAMES)
        if self.weight_decay:
            names.append("weight_decay")
        if self.clip():
            names.append(self.clip()[0])
        return names

    def hparams(self):
        """Run-time values for the native update, in hparam_names() order."""
        return [float(getattr(self, n)) for n in self.hparam_names()]

    def slots(self):
        """[(slot_name, initial_value)] of per-weight state the native code allocates."""
        raise NotImplementedError

    def structure_key(self):
        """What changes the generated code (never values passed at run time)."""
        return self._kind_key() + (bool(self.weight_decay), (self.clip() or (None,))[0])

    def _kind_key(self):
        raise NotImplementedError

    def init_slots(self, w):
        """Slot arrays for a weight ``w``, for reference_update."""
        return {n: np.full(np.shape(w), v, dtype=np.asarray(w).dtype) for n, v in self.slots()}

    def init_global_state(self):
        """State shared by all weights, for reference_apply (Nadam's u_product)."""
        return {}

    def reference_update(self, w, g, slots, t, state=None):
        """One Keras 3 update of one weight in numpy, from its (clipped) gradient: returns
        the new weight, replaces ``slots`` values. ``state``: init_global_state()'s dict,
        as reference_apply advances it."""
        raise NotImplementedError

    def reference_apply(self, weights, grads, slots, t, state=None, decays=None):
        """One Keras 3 step over all weights (dicts by name): clip the gradients, decay the
        weights (those decays[name] allows, else all), update. Returns the new weights."""
        grads = dict(grads)
        clip = self.clip()
        if clip and clip[0] == "clipvalue":
            grads = {k: np.clip(g, -clip[1], clip[1]) for k, g in grads.items()}
        elif clip and clip[0] == "clipnorm":
            grads = {k: g * clip[1] / max(np.sqrt(np.sum(np.square(g))), clip[1])
                     for k, g in grads.items()}
        elif clip:
            norm = np.sqrt(sum(np.sum(np.square(g)) for g in grads.values()))
            grads = {k: g * (clip[1] * min(1.0 / norm, 1.0 / clip[1])) for k, g in grads.items()}
        if state is None:
            state = self.init_global_state()
        self._advance_global_state(state, t)
        out = {}
        for k, w in weights.items():
            if self.uses_weight_decay(k) and (decays is None or decays[k]):
                w = w * (1 - self.weight_decay * self.learning_rate)
            out[k] = self.reference_update(w, grads[k], slots[k], t, state)
        return out

    def _advance_global_state(self, state, t):
        pass

    def get_config(self):
        config = {"name": self.name}
        config.update({n: getattr(self, n) for n in self._config_names()})
        config.update({n: getattr(self, n) for n in ("weight_decay",) + _CLIP_ARGS})
        return config

    def _config_names(self):
        return self.HPARAM_NAMES

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if k != "name" and (v is not None or k not in _BASE_CONFIG))
        return f"{type(self).__name__}({args})"


_BASE_CONFIG = ("weight_decay",) + _CLIP_ARGS


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

    def _kind_key(self):
        has_momentum = self.momentum > 0
        return ("sgd", has_momentum, has_momentum and self.nesterov)

    def reference_update(self, w, g, slots, t, state=None):
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

    def _kind_key(self):
        return ("rmsprop", self.momentum > 0, self.centered)

    def reference_update(self, w, g, slots, t, state=None):
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
        owner = type(self).__name__
        self.beta_1 = _number(owner, "beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _number(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = _number(owner, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _config_names(self):
        return self.HPARAM_NAMES + ("amsgrad",)

    def slots(self):
        slots = [("momentum", 0.0), ("velocity", 0.0)]
        return slots + [("velocity_hat", 0.0)] if self.amsgrad else slots

    def _kind_key(self):
        return (self.kind, self.amsgrad)

    def reference_update(self, w, g, slots, t, state=None):
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

    def _kind_key(self):
        return ("adagrad",)

    def reference_update(self, w, g, slots, t, state=None):
        acc = slots["accumulator"] + g * g
        slots["accumulator"] = acc
        return w - self.learning_rate * g / np.sqrt(acc + self.epsilon)


class AdamW(Adam):
    """AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
    epsilon=1e-7, amsgrad=False): Adam with Keras 3's decoupled weight decay (the base
    optimizer's, applied before the update)."""

    kind = "adamw"
    default_weight_decay = 0.004

    def __init__(self, learning_rate=None, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name="adamw", **kwargs):
        if weight_decay is None:   # Keras's check and wording
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name=name,
                         weight_decay=weight_decay, **kwargs)


class Adamax(Optimizer):
    """Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)."""

    kind = "adamax"
    HPARAM_NAMES = ("learning_rate", "beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="adamax", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1 = _number("Adamax", "beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _number("Adamax", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _number("Adamax", "epsilon", epsilon)

    def slots(self):
        return [("momentum", 0.0), ("norm", 0.0)]

    def _kind_key(self):
        return ("adamax",)

    def reference_update(self, w, g, slots, t, state=None):
        b1 = self.beta_1
        m = slots["momentum"] + (g - slots["momentum"]) * (1 - b1)
        u = np.maximum(self.beta_2 * slots["norm"], np.abs(g))
        slots["momentum"], slots["norm"] = m, u
        return w - self.learning_rate * m / ((1 - b1 ** t) * (u + self.epsilon))


class Nadam(Optimizer):
    """Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7).

    Keras 3 keeps u_product, the running product of the momentum schedule
    beta_1 (1 - 0.5 * 0.96^t), as one float32 variable that each step multiplies (not
    a closed form): kcc keeps it so too, in GLOBAL_STATE after the weights' slots."""

    kind = "nadam"
    HPARAM_NAMES = ("learning_rate", "beta_1", "beta_2", "epsilon")
    # Two floats: step t reads the product of step t - 1 from float (t - 1) % 2 and writes
    # its own to float t % 2, so the threads that share an update never read a value that
    # one of them is writing (step 1 starts from 1, as Keras's variable does).
    GLOBAL_STATE = 2

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="nadam", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1 = _number("Nadam", "beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _number("Nadam", "beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = _number("Nadam", "epsilon", epsilon)

    def slots(self):
        return [("momentum", 0.0), ("velocity", 0.0)]

    def _kind_key(self):
        return ("nadam",)

    def init_global_state(self):
        return {"u_product": 1.0}

    def _advance_global_state(self, state, t):
        state["u_product"] *= self.beta_1 * (1 - 0.5 * 0.96 ** t)

    def reference_update(self, w, g, slots, t, state=None):
        """``state``: the u_product after this step's advance (reference_apply's)."""
        b1, b2 = self.beta_1, self.beta_2
        u_t = b1 * (1 - 0.5 * 0.96 ** t)
        u_t_1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_product_t = state["u_product"]
        u_product_t_1 = u_product_t * u_t_1
        m = slots["momentum"] + (g - slots["momentum"]) * (1 - b1)
        v = slots["velocity"] + (g * g - slots["velocity"]) * (1 - b2)
        slots["momentum"], slots["velocity"] = m, v
        m_hat = u_t_1 * m / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product_t)
        v_hat = v / (1 - b2 ** t)
        return w - m_hat * self.learning_rate / (np.sqrt(v_hat) + self.epsilon)


class Adadelta(Optimizer):
    """Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7)."""

    kind = "adadelta"
    HPARAM_NAMES = ("learning_rate", "rho", "epsilon")

    def __init__(self, learning_rate=None, rho=0.95, epsilon=1e-7, name="adadelta", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.rho = _number("Adadelta", "rho", rho, 0.0, 1.0)
        self.epsilon = _number("Adadelta", "epsilon", epsilon)

    def slots(self):
        return [("accumulated_grad", 0.0), ("accumulated_delta_var", 0.0)]

    def _kind_key(self):
        return ("adadelta",)

    def reference_update(self, w, g, slots, t, state=None):
        rho, eps = self.rho, self.epsilon
        ag = rho * slots["accumulated_grad"] + (1 - rho) * g * g
        delta = -np.sqrt(slots["accumulated_delta_var"] + eps) * g / np.sqrt(ag + eps)
        slots["accumulated_grad"] = ag
        slots["accumulated_delta_var"] = (rho * slots["accumulated_delta_var"]
                                          + (1 - rho) * delta * delta)
        return w + self.learning_rate * delta


class Lion(Optimizer):
    """Lion(learning_rate=0.001, beta_1=0.9, beta_2=0.99)."""

    kind = "lion"
    HPARAM_NAMES = ("learning_rate", "beta_1", "beta_2")

    def __init__(self, learning_rate=None, beta_1=0.9, beta_2=0.99, name="lion", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        ok = isinstance(beta_1, (int, float, np.integer, np.floating)) and 0 < beta_1 <= 1
        if not ok:   # Keras's check and wording
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                             f"optimizer degenerates to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1 = float(beta_1)
        self.beta_2 = _number("Lion", "beta_2", beta_2, 0.0, 1.0)

    def slots(self):
        return [("momentum", 0.0)]

    def _kind_key(self):
        return ("lion",)

    def reference_update(self, w, g, slots, t, state=None):
        m = slots["momentum"]
        w = w - self.learning_rate * np.sign(m * self.beta_1 + g * (1 - self.beta_1))
        slots["momentum"] = m * self.beta_2 + g * (1 - self.beta_2)
        return w


# Keras 1/2 module-level aliases.
sgd, rmsprop, adam, adagrad, adadelta, adamax, nadam = (SGD, RMSprop, Adam, Adagrad, Adadelta,
                                                         Adamax, Nadam)

_BY_NAME = {c.kind: c for c in (SGD, RMSprop, Adam, Adagrad, AdamW, Adamax, Nadam, Adadelta,
                                Lion)}


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
