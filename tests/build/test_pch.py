"""kcc/build/pch.py: the headers every unit includes are precompiled once per toolchain (GCC),
kept in the build cache, used by each unit's compile, rebuilt when damaged, and left out
(the unit parsing its headers itself) for other compilers or when they do not build."""
import json
import os
import shutil
import subprocess

import pytest

from kcc.build import build_shared_library, default_toolchain
from kcc.build.pch import HEADER, is_gcc, with_prelude

PRELUDE = '#include <math.h>\n#define KCC_PRELUDE_ANSWER 42\n'
SOURCE = '#include <math.h>\nextern "C" int f() { return KCC_PRELUDE_ANSWER + (int)sqrt(0.0); }\n'


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KCC_CACHE_DIR", str(tmp_path / "cache"))
    if not is_gcc(default_toolchain().compiler):
        pytest.skip("precompiled headers are used with GCC only")
    return tmp_path / "cache"


def _entry(toolchain):
    flags = toolchain.cxxflags
    assert flags[-2] == "-include" and flags[-1].endswith("/" + HEADER), flags
    return os.path.dirname(flags[-1])


def test_a_unit_compiles_after_the_precompiled_prelude(cache):
    tc = with_prelude(default_toolchain(), PRELUDE, [])
    entry = _entry(tc)
    assert os.path.basename(entry).startswith("pch-") and os.path.dirname(entry) == str(cache)
    lib = build_shared_library({"model.cpp": SOURCE}, include_dirs=[], library_dirs=[], libraries=[],
                               rpaths=[], toolchain=tc)
    import ctypes
    assert ctypes.CDLL(str(lib)).f() == 42      # the macro came from the prelude
    # GCC loads the .gch (-H marks it '!'), it does not parse the header
    proc = subprocess.run([tc.compiler, *tc.cxxflags, "-H", "-fsyntax-only", "-x", "c++", "-"],
                          input=SOURCE, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"! {entry}/{HEADER}.gch" in proc.stderr.splitlines(), proc.stderr[:500]


def test_built_once_then_found(cache):
    first = with_prelude(default_toolchain(), PRELUDE, [])
    gch = os.path.join(_entry(first), HEADER + ".gch")
    stamp = os.stat(gch).st_mtime_ns
    assert with_prelude(default_toolchain(), PRELUDE, []) == first
    assert os.stat(gch).st_mtime_ns == stamp
    # another prelude is another entry
    other = with_prelude(default_toolchain(), PRELUDE + "#define X 1\n", [])
    assert _entry(other) != _entry(first)
    entries = [p.name for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert sorted(entries) == sorted(os.path.basename(_entry(t)) for t in (first, other))


def test_a_damaged_prelude_is_rebuilt(cache):
    gch = os.path.join(_entry(with_prelude(default_toolchain(), PRELUDE, [])), HEADER + ".gch")
    with open(gch, "r+b") as f:
        f.truncate(100)                    # as a full disk or a killed copy would leave it
    tc = with_prelude(default_toolchain(), PRELUDE, [])
    assert os.path.getsize(gch) > 100
    with open(os.path.join(_entry(tc), "done")) as f:
        assert json.load(f)["size"] == os.path.getsize(gch)


def test_a_prelude_that_does_not_compile_is_left_out(cache, monkeypatch):
    base = default_toolchain()
    assert with_prelude(base, "this is not C++;\n", []) == base
    assert not any(p.name.startswith("pch-") and not p.name.endswith(".lock") for p in cache.iterdir())
    assert not any(p.name.startswith("tmp-") for p in cache.iterdir())


def test_clang_gets_no_prelude(cache, monkeypatch):
    if shutil.which("clang++") is None:
        pytest.skip("needs clang++")
    monkeypatch.setenv("CXX", "clang++")
    tc = default_toolchain()
    assert not is_gcc(tc.compiler)
    assert with_prelude(tc, PRELUDE, []) == tc


def test_a_models_unit_uses_kccs_precompiled_headers(cache):
    """A model's build.ninja compiles after the prelude, which holds every kcc/ops header."""
    from kcc.layers import Dense, Input
    from kcc.models import Model
    i = Input((3,))
    model = Model(i, Dense(2)(i))
    model.compile("sgd", "mse")
    ninja = (model._native.library.parent / "build.ninja").read_text()
    flag = next(w for w in ninja.split() if w.endswith("/" + HEADER))
    prelude = open(flag).read()
    assert '#include "kcc/ops/recurrent.h"' in prelude and '#include "kcc/gemm.h"' in prelude
    assert os.path.isfile(flag + ".gch")
