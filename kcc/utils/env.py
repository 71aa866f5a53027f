"""On/off settings from the environment (KCC_WINOGRAD, KCC_STACK_SHARED, KCC_CUDA_*), read
one way: 1/0 and the usual words for them, anything else an error that names the variable.
(Reading "anything but 0" as on made KCC_WINOGRAD=false leave Winograd on.)"""
from __future__ import annotations

import os

_ON = {"1", "true", "yes", "on"}
_OFF = {"0", "false", "no", "off"}


def env_flag(name: str, default):
    """True or False as `name` says, `default` when it is unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in _ON:
        return True
    if raw.lower() in _OFF:
        return False
    raise ValueError(f"{name}={raw!r} is not an on/off setting: use 1 or 0 (or true/false, "
                     f"yes/no, on/off), or unset it")
