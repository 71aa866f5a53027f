"""kcc/build/pch.py: the headers every unit includes are precompiled once per toolchain (GCC),
in the background, kept in the build cache and used by each later unit's compile; rebuilt
when damaged; left out (the unit parsing its headers itself) for other compilers or when
they do not build. A unit's cache key is the same with the prelude or without."""
import ctypes
import json
import os
import shutil
import subprocess

import pytest

from kcc.build import build_shared_library, default_toolchain
from kcc.build.pch import HEADER, is_gcc, wait_for_preludes, with_prelude

PRELUDE = '#include <math.h>\n#define KCC_PRELUDE_ANSWER 42\n'
SOURCE = '#include <math.h>\nextern "C" int f() { return (int)sqrt(1764.0); }\n'
NO_LINK = dict(include_dirs=[], library_dirs=[], libraries=[], rpaths=[])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KCC_CACHE_DIR", str(tmp_path / "cache"))
    if not is_gcc(default_toolchain().compiler):
        pytest.skip("precompiled headers are used with GCC only")
    return tmp_path / "cache"


def _built(prelude=PRELUDE):
    """The toolchain once the prelude's background build is done."""
    with_prelude(default_toolchain(), prelude, [])
    wait_for_preludes()
    tc = with_prelude(default_toolchain(), prelude, [])
    assert tc.prelude.endswith("/" + HEADER), tc
    return tc


def test_the_first_unit_does_not_wait_and_later_ones_load_it(cache):
    first = with_prelude(default_toolchain(), PRELUDE, [])
    assert first == default_toolchain()          # not built yet: the unit parses as before
    tc = _built()
    entry = os.path.dirname(tc.prelude)
    assert os.path.basename(entry).startswith("pch-") and os.path.dirname(entry) == str(cache)
    # the same library, so the same cache entry, with the prelude or without
    plain = build_shared_library({"model.cpp": SOURCE}, toolchain=first, **NO_LINK)
    assert build_shared_library({"model.cpp": SOURCE}, toolchain=tc, **NO_LINK) == plain
    assert ctypes.CDLL(str(plain)).f() == 42
    # a unit built after it names it in its build.ninja, and GCC loads the .gch (-H marks
    # it '!') instead of parsing the header
    lib = build_shared_library({"model.cpp": SOURCE + "// another unit\n"}, toolchain=tc, **NO_LINK)
    assert f"-include {tc.prelude}" in (lib.parent / "build.ninja").read_text()
    proc = subprocess.run([tc.compiler, *tc.cxxflags, "-include", tc.prelude, "-H", "-fsyntax-only",
                           "-x", "c++", "-"], input="int g() { return KCC_PRELUDE_ANSWER; }\n",
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"! {tc.prelude}.gch" in proc.stderr.splitlines(), proc.stderr[:500]


def test_built_once_then_found(cache):
    tc = _built()
    gch = tc.prelude + ".gch"
    stamp = os.stat(gch).st_mtime_ns
    assert _built() == tc and os.stat(gch).st_mtime_ns == stamp
    other = _built(PRELUDE + "#define X 1\n")     # another prelude: another entry
    assert other.prelude != tc.prelude
    entries = [p.name for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert sorted(entries) == sorted(os.path.basename(os.path.dirname(t.prelude)) for t in (tc, other))


def test_a_damaged_prelude_is_rebuilt(cache):
    gch = _built().prelude + ".gch"
    with open(gch, "r+b") as f:
        f.truncate(100)                    # as a full disk or a killed copy would leave it
    assert with_prelude(default_toolchain(), PRELUDE, []) == default_toolchain()   # not used
    tc = _built()
    assert os.path.getsize(gch) > 100
    with open(os.path.join(os.path.dirname(tc.prelude), "done")) as f:
        assert json.load(f)["size"] == os.path.getsize(gch)


def test_a_prelude_that_does_not_compile_is_left_out(cache):
    base = default_toolchain()
    assert with_prelude(base, "this is not C++;\n", []) == base
    wait_for_preludes()
    assert with_prelude(base, "this is not C++;\n", []) == base
    assert not any(p.name.startswith(("pch-", "tmp-")) and not p.name.endswith(".lock")
                   for p in cache.iterdir())


def test_clang_gets_no_prelude(cache, monkeypatch):
    if shutil.which("clang++") is None:
        pytest.skip("needs clang++")
    monkeypatch.setenv("CXX", "clang++")
    tc = default_toolchain()
    assert not is_gcc(tc.compiler)
    assert with_prelude(tc, PRELUDE, []) == tc


def test_a_models_unit_uses_kccs_precompiled_headers(cache):
    """Once built, the prelude holds every kcc/ops header and a model's unit starts with it."""
    from kcc.layers import Dense, Input
    from kcc.models import Model

    def model(units):
        i = Input((3,))
        m = Model(i, Dense(units)(i))
        m.compile("sgd", "mse")
        return m

    model(2)
    wait_for_preludes()
    ninja = (model(3)._native.library.parent / "build.ninja").read_text()
    flag = next(w for w in ninja.split() if w.endswith("/" + HEADER))
    prelude = open(flag).read()
    assert '#include "kcc/ops/recurrent.h"' in prelude and '#include "kcc/gemm.h"' in prelude
    assert os.path.isfile(flag + ".gch")
