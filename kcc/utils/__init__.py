"""Utilities: randomness, session state, numpy helpers."""
from kcc.utils.numerical import to_categorical
from kcc.utils.random import native_seed, make_rng, set_random_seed
from kcc.utils.session import clear_session

__all__ = ["clear_session", "make_rng", "native_seed", "set_random_seed", "to_categorical"]
