"""Everything random in kcc draws from one seed sequence.

`set_random_seed(n)` restarts it, so the same program builds the same weights and the
native code shuffles and drops out the same way. Without it the sequence is seeded once
from OS entropy. Each draw spawns a child seed, so the values a draw gets depend only on
the seed and on how many draws came before it, not on the sizes of earlier draws.
"""
import random as _py_random

import numpy as np

_root = None


def _sequence():
    global _root
    if _root is None:
        _root = np.random.SeedSequence()
    return _root


def set_random_seed(seed):
    """Fix kcc's randomness (and Python's and numpy's global generators, as Keras does)."""
    global _root
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"Expected `seed` to be a non-negative integer. Received: seed={seed!r}")
    _root = np.random.SeedSequence(int(seed))
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)


def make_rng():
    """A fresh numpy Generator for one initializer draw."""
    return np.random.Generator(np.random.PCG64(_sequence().spawn(1)[0]))


def native_seed():
    """A fresh uint64 seed for native code (shuffling, dropout masks)."""
    return int(_sequence().spawn(1)[0].generate_state(1, dtype=np.uint64)[0])
