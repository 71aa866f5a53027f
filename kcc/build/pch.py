"""Precompiled headers: kcc's headers parsed once per toolchain, not once per model.

Every model's unit starts with the same few thousand lines of headers (the C library's and
kcc's), and parsing them is a sixth of a unit's compile at -O3, a third at -O1 and more at
-O0. GCC saves a parse as a precompiled header: `with_prelude` has `prelude.h` (the units'
#include lines with every kcc/ops header, codegen.prelude) compiled into `prelude.h.gch`
once, and names it as the toolchain's `prelude`, which each compile starts with
(`-include`). GCC then loads the .gch instead of parsing, and the unit's own #include
lines find their include guards set. A .gch that does not match the flags is ignored by
GCC, which parses the header itself: the same code either way, only slower.

The prelude is built in the background: the first models of a fresh cache compile
without it (no one waits for it), the ones after it is done load it. The library is the
same either way (checked at -O3: 8 units' machine code identical with it and without; at
-O0, an emulated CUDA unit also keeps unused constants of headers it did not include), so
the prelude is not in a unit's cache key (Toolchain.prelude).

It is an entry of the build cache, `pch-<key32>/` (prelude.h, prelude.h.gch and `done`:
the key and the .gch's size), keyed like a library (toolchain, include dirs, the
prelude's text, extra_key: the headers' digest), built under its flock and published by
renaming a finished temp dir. Another process building it is not waited for.

GCC only: Clang's precompiled headers fail the build, rather than fall back, when a header
is newer than the .pch (a reinstall of the same kcc). A prelude that does not build is not
used (and not retried in the process): the units parse their headers as before.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading

from kcc.build.cache import _debug, _locked, _write, read_done
from kcc.build.key import KEY_SCHEME, cache_key, kcc_version
from kcc.build.safety import cache_root
from kcc.build.toolchain import Toolchain, compiler_version

HEADER = "prelude.h"
_STARTED: dict[str, threading.Thread] = {}   # entry path -> its build in this process
_FAILED: set[str] = set()                    # keys whose prelude did not build: not retried
_LOCK = threading.Lock()                     # units build on several threads at once


def is_gcc(compiler: str) -> bool:
    """GCC's driver: its --version names the Free Software Foundation (Clang's does not,
    even when it is installed as g++)."""
    return "Free Software Foundation" in compiler_version(compiler)


def with_prelude(toolchain: Toolchain, prelude: str, include_dirs: list[str],
                 extra_key: str = "") -> Toolchain:
    """`toolchain` with `prelude` (a header's text) as its precompiled prelude when that is
    built; else `toolchain` itself, and the prelude starts building in the background (GCC
    only). include_dirs: where the prelude's #include lines are found."""
    if not is_gcc(toolchain.compiler):
        return toolchain
    inputs = {
        "scheme": KEY_SCHEME,
        "kind": "precompiled header",
        "kcc_version": kcc_version(),
        "toolchain": toolchain.key_fields(),
        "include_dirs": [os.path.abspath(d) for d in include_dirs],
        "prelude": hashlib.sha256(prelude.encode("utf-8")).hexdigest(),
        "extra_key": extra_key,
    }
    key = cache_key(inputs)
    entry = cache_root() / f"pch-{key[:32]}"
    if _complete(entry, key):
        return dataclasses.replace(toolchain, prelude=str(entry / HEADER))
    with _LOCK:
        if key not in _FAILED and not (str(entry) in _STARTED and _STARTED[str(entry)].is_alive()):
            # daemon: a process that ends first leaves the .gch half made in a temp dir,
            # which the next build of it removes
            thread = threading.Thread(target=_build_unless_busy, args=(entry, key, inputs, toolchain, prelude),
                                      name="kcc-prelude", daemon=True)
            _STARTED[str(entry)] = thread
            thread.start()
    return toolchain


def wait_for_preludes() -> None:
    """Wait for this process's prelude builds to end (tests; a script has no need to)."""
    for thread in list(_STARTED.values()):
        thread.join()


def _complete(entry: pathlib.Path, key: str) -> bool:
    """Whether `entry` holds this key's finished prelude (its .gch the size it was built)."""
    done = read_done(entry)
    try:
        size = os.stat(entry / (HEADER + ".gch")).st_size
    except OSError:
        return False
    return done is not None and done.get("key") == key and done.get("size") == size


def _build_unless_busy(entry: pathlib.Path, key: str, inputs: dict, toolchain: Toolchain,
                       prelude: str) -> None:
    try:
        with _locked(entry.parent / f"{entry.name}.lock", "the precompiled headers", wait=False) as held:
            if held and not _complete(entry, key) and not _build(entry, inputs, toolchain, prelude, key):
                _FAILED.add(key)
    except Exception as exc:   # an unsafe cache directory: the unit's own build says so
        _debug(f"the precompiled headers were not built: {exc}")
        _FAILED.add(key)


def _build(entry: pathlib.Path, inputs: dict, toolchain: Toolchain, prelude: str, key: str) -> bool:
    """Compile the prelude in a temp dir and rename it to `entry`; False if it failed."""
    root = entry.parent
    for stale in glob.glob(os.path.join(glob.escape(str(root)), f"tmp-{entry.name}-*")):
        shutil.rmtree(stale, ignore_errors=True)   # a killed build's (we hold the lock)
    if os.path.lexists(entry):
        shutil.rmtree(entry)                       # incomplete or damaged
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"tmp-{entry.name}-{os.getpid()}-", dir=root))
    try:
        _write(tmp / HEADER, prelude)
        _write(tmp / "key.json", json.dumps(inputs, indent=1, sort_keys=True) + "\n")
        includes = [f"-I{d}" for d in inputs["include_dirs"]]
        command = [toolchain.compiler, *toolchain.cxxflags, *includes, "-x", "c++-header", HEADER,
                   "-o", HEADER + ".gch"]
        try:
            proc = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=600)
            failed = proc.returncode != 0 and proc.stderr[-2000:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            failed = str(exc)
        if failed:
            _debug(f"the precompiled headers did not build (each unit parses them itself): {failed}")
            return False
        size = os.stat(tmp / (HEADER + ".gch")).st_size
        _write(tmp / "done", json.dumps({"key": key, "size": size}) + "\n")
        os.rename(tmp, entry)
        _debug(f"built the precompiled headers: {entry / HEADER}.gch ({size >> 20} MiB)")
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)   # no-op once renamed
