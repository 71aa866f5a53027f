"""kcc.build: build a tiny library, cache it, fail loudly, refuse unsafe dirs,
and stay correct with concurrent and killed builders."""
import ctypes
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest

from kcc.build import BuildError, Toolchain, build_shared_library, default_toolchain

SOURCE = 'extern "C" int f() { return 42; }\n'
NO_LINK = dict(include_dirs=[], library_dirs=[], libraries=[], rpaths=[])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("KCC_CACHE_DIR", str(root))
    monkeypatch.delenv("KCC_DEBUG", raising=False)
    return root


@pytest.fixture
def counting(tmp_path):
    """A toolchain whose compiler logs each compile step, slowly (0.3 s), so
    tests can count compilations and concurrent builders really overlap."""
    counter = tmp_path / "compiles.txt"
    wrapper = tmp_path / "counting-cxx"
    real = default_toolchain().compiler
    wrapper.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        for arg in "$@"; do
          if [ "$arg" = "-c" ]; then echo x >> '{counter}'; sleep 0.3; fi
        done
        exec '{real}' "$@"
        """))
    wrapper.chmod(0o755)
    toolchain = dataclasses.replace(default_toolchain(), name="counting", compiler=str(wrapper))
    return toolchain, lambda: len(counter.read_text().split()) if counter.exists() else 0


def build(source=SOURCE, **kwargs):
    return build_shared_library({"model.cpp": source}, **NO_LINK, **kwargs)


def test_builds_and_loads_with_ctypes(cache):
    path = build()
    assert path.name == "model.so" and path.parent.parent == cache
    assert ctypes.CDLL(str(path)).f() == 42
    # The entry keeps what a person needs to rebuild it by hand.
    for name in ("model.cpp", "build.ninja", "build.log", "key.json", "done"):
        assert (path.parent / name).is_file()
    assert (cache.stat().st_mode & 0o777) == 0o700


def test_second_call_hits_the_cache(cache, counting):
    toolchain, compiles = counting
    first = build(toolchain=toolchain)
    mtime = first.stat().st_mtime_ns
    second = build(toolchain=toolchain)
    assert second == first
    assert compiles() == 1
    assert second.stat().st_mtime_ns == mtime


def test_generated_build_file_reruns_by_hand(cache):
    entry = build().parent
    proc = subprocess.run([_ninja(), "-C", str(entry)], capture_output=True, text=True)
    assert proc.returncode == 0 and "no work to do" in proc.stdout


def test_key_covers_source_flags_and_extra_key(cache):
    base = build()
    assert build('extern "C" int f() { return 7; }\n') != base
    assert build(extra_key="kcc 9.9") != base
    flags = dataclasses.replace(default_toolchain(), cxxflags=("-O1", "-std=c++17", "-fPIC"))
    assert build(toolchain=flags) != base
    assert build() == base


def test_headers_and_include_dirs_with_spaces(cache, tmp_path):
    include = tmp_path / "my include"
    include.mkdir()
    (include / "answer.h").write_text("#define ANSWER 40\n")
    sources = {
        "model.cpp": '#include "answer.h"\n#include "local.h"\n'
                     'extern "C" int f() { return ANSWER + LOCAL; }\n',
        "local.h": "#define LOCAL 2\n",  # written next to model.cpp, not compiled
    }
    path = build_shared_library(sources, include_dirs=[str(include)],
                                library_dirs=[], libraries=[], rpaths=[])
    assert ctypes.CDLL(str(path)).f() == 42


def test_links_libraries_with_rpath(cache):
    dep = build_shared_library({"libanswer.cpp": 'extern "C" int answer() { return 41; }\n'},
                               **NO_LINK)
    assert dep.name == "libanswer.so"
    path = build_shared_library(
        {"model.cpp": 'extern "C" int answer();\nextern "C" int f() { return answer() + 1; }\n'},
        include_dirs=[], library_dirs=[str(dep.parent)], libraries=["answer"],
        rpaths=[str(dep.parent), "$ORIGIN"])
    assert ctypes.CDLL(str(path)).f() == 42


def test_compile_error_raises_build_error_with_log(cache):
    with pytest.raises(BuildError) as info:
        build('extern "C" int f() { return undeclared_name; }\n', what="model 'model_1'")
    err = info.value
    message = str(err)
    assert "model 'model_1'" in message
    assert "undeclared_name" in message and "error" in message
    assert err.command and "model.cpp" in err.command
    assert err.log_path in message and "undeclared_name" in pathlib.Path(err.log_path).read_text()
    assert pathlib.Path(err.source).read_text().startswith('extern "C"')
    # No half entry: only the kept failed build and lock files remain.
    names = os.listdir(cache)
    assert all(n.startswith("failed-") or n.endswith(".lock") for n in names), names
    # Fixing the source then builds normally.
    assert ctypes.CDLL(str(build())).f() == 42


def test_invalid_source_name_is_refused(cache):
    with pytest.raises(ValueError, match="Invalid source file name '../evil.cpp'"):
        build_shared_library({"../evil.cpp": SOURCE}, **NO_LINK)


def test_symlinked_cache_dir_is_refused(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    monkeypatch.setenv("KCC_CACHE_DIR", str(link))
    with pytest.raises(BuildError, match="is a symlink"):
        build()


def test_group_writable_cache_dir_is_refused(cache):
    cache.mkdir()
    cache.chmod(0o770)
    with pytest.raises(BuildError, match="writable by group or others") as info:
        build()
    assert "chmod go-w" in str(info.value)


@pytest.mark.parametrize("damage", ["truncate", "garble", "empty", "delete", "done_list"])
def test_damaged_entry_is_rebuilt_not_loaded(cache, counting, damage):
    """A library truncated, overwritten or deleted after it was cached (a full disk, a
    crash, a stray `cp`) is rebuilt: loading a truncated one killed every later process
    with SIGBUS. `done` holds its size and sha256."""
    toolchain, compiles = counting
    path = build(toolchain=toolchain)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "garble":
        path.write_bytes(data[:2000] + b"\xcc" * 200 + data[2200:])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "delete":
        path.unlink()
    else:
        (path.parent / "done").write_text("[1, 2]\n")
    again = build(toolchain=toolchain)
    assert again == path and again.read_bytes() == data
    assert compiles() == 2
    assert ctypes.CDLL(str(again)).f() == 42


def _put_library(entry_library, data):
    """Make `data` the library of an entry, its `done` fixed to vouch for it (what a hand
    copy that also fixes `done`, or a prefix collision, would leave)."""
    entry_library.write_bytes(data)
    done_path = entry_library.parent / "done"
    done = json.loads(done_path.read_text())
    done.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    done_path.write_text(json.dumps(done))


@pytest.mark.parametrize("library", ["another_keys", "unstamped"])
def test_an_entry_holding_another_library_is_rebuilt_not_loaded(cache, counting, library):
    """`done` vouches for the bytes it sees, not for which build made them: an entry whose
    library came from another key (another model's, its `done` fixed) was loaded as this
    one. Each library now ends with its key, checked at every lookup."""
    toolchain, compiles = counting
    path = build(toolchain=toolchain)
    mine = path.read_bytes()
    from kcc.build.cache import STAMP
    assert mine.endswith(STAMP + json.loads((path.parent / "done").read_text())["key"].encode())
    if library == "another_keys":
        other = build('extern "C" int f() { return 7; }\n', toolchain=toolchain)
        _put_library(path, other.read_bytes())
    else:   # as an older kcc built it
        _put_library(path, mine[:mine.rindex(STAMP)])
    before = compiles()
    again = build(toolchain=toolchain)
    assert again == path and compiles() == before + 1
    assert again.read_bytes() == mine
    assert ctypes.CDLL(str(again)).f() == 42


_CHILD = textwrap.dedent("""\
    import sys
    import numpy as np
    from kcc.layers import Dense, Input
    from kcc.models import Model
    def model(*units):
        x = y = Input(shape=(3,))
        for n in units:
            y = Dense(n)(y)
        m = Model(x, y)
        m.compile("sgd", "mse")
        return m
    a = model(2)
    if sys.argv[1] == "build":
        print(a._native.library, model(5, 2)._native.library)
    else:
        print(a.predict(np.ones((4, 3), np.float32), verbose=0).shape)
    """)


def test_a_model_whose_entry_holds_another_models_library_is_rebuilt(cache, tmp_path):
    """The report: an entry holding another model's library gave 'wrong number of
    weights', with no word of the cache. Each process dlopens a path once, so a fresh
    process loads the entry."""
    import tempfile
    script = tmp_path / "child.py"
    script.write_text(_CHILD)

    def child(step):
        proc = subprocess.run([sys.executable, str(script), step], capture_output=True,
                              text=True, cwd=tempfile.gettempdir(), timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout.split()

    mine, other = map(pathlib.Path, child("build"))
    _put_library(mine, other.read_bytes())
    assert child("predict") == ["(4,", "2)"]
    assert mine.read_bytes() != other.read_bytes()


def test_tampered_entry_is_refused(cache):
    entry = build().parent
    entry.chmod(0o777)
    with pytest.raises(BuildError, match="cache entry .* writable by group"):
        build()


def test_symlinked_lock_file_is_refused(cache, tmp_path):
    entry = build().parent
    subprocess.run(["rm", "-rf", str(entry)], check=True)
    lock = cache / f"{entry.name}.lock"
    lock.unlink()
    lock.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BuildError, match="Cannot open the kcc lock file"):
        build()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to chown to another uid")
def test_cache_dir_of_another_user_is_refused(cache):
    cache.mkdir(mode=0o700)
    os.chown(cache, 12345, 12345)
    with pytest.raises(BuildError, match="owned by uid 12345"):
        build()


def _build_in_child(toolchain, barrier, results):
    barrier.wait()
    try:
        path = build(toolchain=toolchain)
        results.put(ctypes.CDLL(str(path)).f())
    except BaseException as exc:  # report, do not hang the parent
        results.put(repr(exc))


def test_concurrent_builders_compile_once(cache, counting):
    toolchain, compiles = counting
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_build_in_child, args=(toolchain, barrier, results))
             for _ in range(3)]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert got == [42, 42, 42]
    assert compiles() == 1


def test_killed_builder_does_not_block_the_next(cache, counting):
    toolchain, compiles = counting
    entry = build(toolchain=toolchain).parent
    short = entry.name
    # Simulate a builder killed mid-way: no entry, a half-built temp dir,
    # and a lock file whose holder died while holding the flock.
    subprocess.run(["rm", "-rf", str(entry)], check=True)
    stale = cache / f"tmp-{short}-99999-dead"
    stale.mkdir()
    (stale / "model.cpp").write_text("half")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(cache / (short + '.lock'))!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    path = build(toolchain=toolchain)
    assert ctypes.CDLL(str(path)).f() == 42
    assert compiles() == 2
    assert not stale.exists()


def test_debug_prints_entry_and_timing(cache, monkeypatch, capsys):
    monkeypatch.setenv("KCC_DEBUG", "1")
    path = build()
    build()
    err = capsys.readouterr().err
    assert "built model in" in err and "cache hit for model" in err and str(path) in err


def test_toolchain_is_frozen_data():
    toolchain = default_toolchain()
    assert isinstance(toolchain, Toolchain) and toolchain.suffix == ".so"
    assert "-march=native" in toolchain.cxxflags and "-shared" in toolchain.ldflags
    with pytest.raises(dataclasses.FrozenInstanceError):
        toolchain.compiler = "cc"


def _ninja():
    from kcc.build.ninja import find_ninja
    return find_ninja()


def test_unparsable_cxx_names_the_variable(monkeypatch):
    from kcc.build.toolchain import default_toolchain as tc
    monkeypatch.setenv("CXX", "'unterminated")
    with pytest.raises(BuildError, match=r"\$CXX is set to .*does not parse as a command line"):
        tc()


def test_kcc_cxxflags_come_after_kccs_own_and_change_the_key(cache, monkeypatch):
    """$KCC_CXXFLAGS goes after kcc's flags (its -O0 wins over -O3: the compiler takes the
    last) into the key, so a library built with other flags is another entry."""
    from kcc.build.toolchain import DEFAULT_CXXFLAGS
    monkeypatch.setenv("KCC_CXXFLAGS", "")
    release = default_toolchain()
    assert release.cxxflags == DEFAULT_CXXFLAGS
    base = build(toolchain=release)
    monkeypatch.setenv("KCC_CXXFLAGS", "-O0 -g -DKCC_TEST_FLAG='a b'")
    debug = default_toolchain()
    assert debug.cxxflags == DEFAULT_CXXFLAGS + ("-O0", "-g", "-DKCC_TEST_FLAG=a b")
    assert build(toolchain=debug) != base
    ninja = (build(toolchain=debug).parent / "build.ninja").read_text()
    assert "-O3 " in ninja and ninja.index("-O0 -g") > ninja.index("-O3 ")


def test_unparsable_kcc_cxxflags_names_the_variable(monkeypatch):
    monkeypatch.setenv("KCC_CXXFLAGS", "-DX='unterminated")
    with pytest.raises(BuildError, match=r"\$KCC_CXXFLAGS is set to .*does not parse as a command line"):
        default_toolchain()


def test_a_c_compiler_as_cxx_is_explained(cache, monkeypatch):
    """CXX=gcc compiles the unit but links no C++ runtime: the load error says so."""
    import shutil
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    from kcc.layers import Dense, Input
    from kcc.models import Model
    monkeypatch.setenv("CXX", "gcc")
    i = Input(shape=(3,))
    with pytest.raises(RuntimeError, match=r"cannot be loaded: .*__gxx_personality.*\$CXX='gcc'.*g\+\+ or clang\+\+"):
        Model(i, Dense(2)(i)).compile("sgd", "mse")
