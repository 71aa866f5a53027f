"""Utilities: randomness and session state."""
from kcc.utils.random import native_seed, make_rng, set_random_seed
from kcc.utils.session import clear_session

__all__ = ["clear_session", "make_rng", "native_seed", "set_random_seed"]
