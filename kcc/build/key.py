"""The cache key: a sha256 of everything that can change the built library.

Sources (names and texts, in order), the toolchain (compiler path and
version, flags, target CPU when -march=native), include/library arguments,
the kcc version and the caller's extra_key. What it cannot see: the
contents of headers in include_dirs and of prebuilt libraries; a caller
that changes those without changing kcc's version puts a digest of them
in extra_key.
"""
from __future__ import annotations

import hashlib
import json

from kcc.build.toolchain import Toolchain

# Bump when the layout of an entry or the meaning of the key changes, so
# that old entries are simply never found again.
KEY_SCHEME = 1


def kcc_version() -> str:
    try:
        from kcc import __version__
    except ImportError:  # kcc/__init__.py may not define it (yet)
        return "0"
    return str(__version__)


def key_inputs(sources: dict[str, str], output: str, toolchain: Toolchain, *,
               include_dirs: list[str], library_dirs: list[str],
               libraries: list[str], rpaths: list[str], extra_key: str) -> dict:
    """Every key input except the source texts (stored as their sha256), so
    it can be written next to the library as key.json for a person to read."""
    return {
        "scheme": KEY_SCHEME,
        "kcc_version": kcc_version(),
        "extra_key": extra_key,
        "toolchain": toolchain.key_fields(),
        "include_dirs": include_dirs,
        "library_dirs": library_dirs,
        "libraries": libraries,
        "rpaths": rpaths,
        "output": output,
        "sources": [
            [name, hashlib.sha256(text.encode("utf-8")).hexdigest()]
            for name, text in sources.items()
        ],
    }


def cache_key(inputs: dict) -> str:
    """sha256 hex digest of the key inputs (canonical JSON)."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
