"""Weight initializers, as strings (Keras 1/2/3 names) and as classes.

An initializer is called as `init(shape, dtype='float32')` and returns a float32 numpy array.
Unseeded ones draw from kcc.utils.random, so `set_random_seed` makes weights reproducible;
a seeded one (`GlorotUniform(seed=1)`) returns the same values on every call, as in Keras 3.
"""
import math

import numpy as np

from kcc.utils.random import make_rng


def compute_fans(shape):
    """(fan_in, fan_out) as Keras computes them; kernels are (..., in, out) (channels last)."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    def __init__(self, seed=None):
        self.seed = seed

    def _rng(self):
        return np.random.default_rng(self.seed) if self.seed is not None else make_rng()

    def __call__(self, shape, dtype="float32"):
        return np.asarray(self.sample(tuple(shape), self._rng()), dtype=np.float32)

    def sample(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed} if self.seed is not None else {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def sample(self, shape, rng):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


def _truncated_normal(rng, shape, stddev):
    """Normal(0, stddev) redrawn wherever |x| > 2 stddev."""
    x = rng.normal(0.0, 1.0, shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = rng.normal(0.0, 1.0, int(bad.sum()))
        bad = np.abs(x) > 2
    return x * stddev


class TruncatedNormal(RandomNormal):
    def sample(self, shape, rng):
        return self.mean + _truncated_normal(rng, shape, self.stddev)


class VarianceScaling(Initializer):
    """Variance scale / fan, where fan is fan_in, fan_out or their average."""

    # Std of a unit normal truncated at +-2: dividing by it makes the draw's std the target.
    _TRUNCATED_STD = 0.87962566103423978

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"Argument `scale` must be a positive float. Received: scale={scale!r}")
        if isinstance(distribution, str):
            distribution = distribution.lower()
        if distribution == "normal":          # Keras's alias (truncated, as Keras 3 reads it)
            distribution = "truncated_normal"
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid `mode` {mode!r}; expected fan_in, fan_out or fan_avg.")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"Invalid `distribution` {distribution!r}; expected "
                             "truncated_normal, untruncated_normal or uniform.")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def sample(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        return _truncated_normal(rng, shape, math.sqrt(variance) / self._TRUNCATED_STD)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config()}


class _Preset(VarianceScaling):
    """A named VarianceScaling (GlorotUniform, HeNormal, ...): only the seed is configurable."""
    _args = ()

    def __init__(self, seed=None):
        super().__init__(*self._args, seed=seed)

    def get_config(self):
        return Initializer.get_config(self)


class GlorotUniform(_Preset):
    _args = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    _args = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_Preset):
    _args = (2.0, "fan_in", "uniform")


class HeNormal(_Preset):
    _args = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    _args = (1.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    _args = (1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """An orthogonal matrix (the default recurrent kernel of LSTM/GRU), times `gain`."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def sample(self, shape, rng):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2; received {shape}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        q, r = np.linalg.qr(rng.normal(size=(max(rows, cols), min(rows, cols))))
        q *= np.sign(np.diag(r))          # makes the result uniformly distributed
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


class Identity(Initializer):
    """The identity matrix times `gain`; 2D shapes only (a Dense kernel), as in Keras."""

    def __init__(self, gain=1.0):
        super().__init__()
        self.gain = gain

    def sample(self, shape, rng):
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        return self.gain * np.eye(*shape)

    def get_config(self):
        return {"gain": self.gain}


_BY_NAME = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "uniform": RandomUniform, "random_uniform": RandomUniform,
    "normal": RandomNormal, "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "variance_scaling": VarianceScaling, "identity": Identity,
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}
_BY_CLASS.update(IdentityInitializer=Identity, OrthogonalInitializer=Orthogonal)   # Keras 3


class _Function(Initializer):
    """A user function fn(shape, dtype) used as an initializer."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __call__(self, shape, dtype="float32"):
        return np.asarray(self.fn(tuple(shape), dtype), dtype=np.float32)


def get(identifier):
    """An Initializer from a name, a class, an instance, a config dict or a function."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown initializer: {identifier!r}. Valid names are: "
                             f"{', '.join(sorted(_BY_NAME))}.")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return get(identifier["class_name"]).__class__(**identifier.get("config", {}))
    if callable(identifier):
        return _Function(identifier)
    raise ValueError(f"Could not interpret initializer: {identifier!r}. Pass a name "
                     f"({', '.join(sorted(_BY_NAME))}), an Initializer or a function.")


def serialize(initializer):
    initializer = get(initializer)
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


# Keras 3 lowercase function-style aliases: kcc.initializers.glorot_uniform(seed=1)
zeros, ones, constant = Zeros, Ones, Constant
random_uniform, random_normal, truncated_normal = RandomUniform, RandomNormal, TruncatedNormal
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal, orthogonal = LecunUniform, LecunNormal, Orthogonal
identity, variance_scaling = Identity, VarianceScaling
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal
