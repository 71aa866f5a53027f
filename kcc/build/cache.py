"""build_shared_library: a content-addressed, atomic, locked build cache.

Layout under the cache root (see safety.cache_root):
    <key32>/            a complete entry: sources, build.ninja, key.json,
                        build.log, the library, and `done` (written last: the
                        key, and the library's size and sha256, checked at every
                        lookup so a damaged library is rebuilt, never loaded)
    <key32>.lock        flock'ed while one process builds <key32>
    tmp-<key32>-<pid>-<rand>/   a build in progress (or killed mid-way)
    failed-<key32>/     the last failed build of <key32>, kept to inspect

The library ends with its own key (STAMP + the full key, appended after the
link: the loader maps only what the ELF headers name, so trailing bytes are
inert). `done` vouches for the file it saw; the stamp says which build made
it, so another model's library put in an entry (copied by hand, its `done`
fixed to match) is rebuilt too, never loaded as this one.

An entry appears only by renaming a finished temp dir, so a reader that sees
<key32>/done never sees half a library and needs no lock. Builders take the
flock, re-check, and build; the kernel drops the lock when a builder dies,
so a killed build never blocks the next one.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import glob
import hashlib
import json
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time

from kcc.build import ninja
from kcc.build.errors import BuildError
from kcc.build.key import cache_key, key_inputs
from kcc.build.safety import cache_root, check_private, check_private_fd
from kcc.build.toolchain import Toolchain, default_toolchain

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_RESERVED = {"build.ninja", "build.log", "done", "key.json", ".ninja_log", ".ninja_deps"}
_TAIL_LINES = 40
STAMP = b"\nkcc-cache-key:"   # then the key's 64 hex digits: the last bytes of every library


@dataclasses.dataclass(frozen=True)
class _Job:
    """One library to build: what the build steps need, computed once."""

    root: pathlib.Path      # the cache directory
    key: str                # full sha256; its first 32 hex digits name things
    sources: dict           # file name -> text
    compiled: list          # the names that are compiled
    output: str             # library file name
    toolchain: Toolchain
    args: dict              # include_dirs, library_dirs, libraries, rpaths
    inputs: dict            # the key inputs, written as key.json
    what: str

    @property
    def short(self) -> str:
        return self.key[:32]

    @property
    def entry(self) -> pathlib.Path:
        return self.root / self.short


def build_shared_library(sources: dict[str, str], *, include_dirs: list[str],
                         library_dirs: list[str], libraries: list[str],
                         rpaths: list[str], toolchain: Toolchain | None = None,
                         extra_key: str = "", what: str = "model") -> pathlib.Path:
    """Compile `sources` into one shared library, or return the cached one.

    sources: file name -> text. Names ending in one of toolchain.source_exts
        are compiled, other files (headers) are written alongside. The
        library is named after the first compiled source: model.cpp ->
        model.so.
    libraries: `-l` names ("m") or paths of prebuilt objects/archives.
    extra_key: anything else that must change the key.
    what: names the thing in error messages, e.g. "model 'model_1'".
    Returns the path of the library inside its cache entry. Raises
    BuildError on a compile failure or an unsafe cache directory.
    """
    start = time.perf_counter()
    toolchain = toolchain or default_toolchain()
    compiled, output = _plan(sources, toolchain)
    args = {
        # Absolute: ninja runs in the build dir, not in the caller's cwd.
        "include_dirs": [os.path.abspath(d) for d in include_dirs],
        "library_dirs": [os.path.abspath(d) for d in library_dirs],
        "libraries": [os.path.abspath(lib) if ninja.is_path(lib) else lib
                      for lib in libraries],
        "rpaths": list(rpaths),  # kept as given: "$ORIGIN" must stay relative
    }
    inputs = key_inputs(sources, output, toolchain, extra_key=extra_key, **args)
    job = _Job(cache_root(), cache_key(inputs), sources, compiled, output,
               toolchain, args, inputs, what)

    library = _lookup(job)
    if library is None:
        with _locked(job.root / f"{job.short}.lock", what):
            # Another process may have finished it while we waited.
            library = _lookup(job)
            if library is None:
                _clear_leftovers(job)
                _build(job)
                library = job.entry / output
                _debug(f"built {what} in {time.perf_counter() - start:.3f} s: {library}")
                return library
    _debug(f"cache hit for {what} in {1e3 * (time.perf_counter() - start):.1f} ms: {library}")
    return library


def _plan(sources: dict[str, str], toolchain: Toolchain) -> tuple[list[str], str]:
    """Check the file names; return (names to compile, library file name)."""
    for name in sources:
        if (not _NAME.match(name) or name in _RESERVED
                or name.endswith((".o", ".d", toolchain.suffix))):
            raise ValueError(
                f"Invalid source file name {name!r}: expected a plain file name "
                "of letters, digits and '_.+-' (e.g. 'model.cpp'), not a path, "
                f"not one of {sorted(_RESERVED)}, not ending in .o/.d/{toolchain.suffix}."
            )
    compiled = [n for n in sources if n.endswith(toolchain.source_exts)]
    if not compiled:
        raise ValueError(
            f"No source to compile among {list(sources)}: expected at least one "
            f"name ending in {', '.join(toolchain.source_exts)}."
        )
    return compiled, os.path.splitext(compiled[0])[0] + toolchain.suffix


def read_done(entry: pathlib.Path) -> dict | None:
    """The `done` record of the cache entry `entry` (a private directory, else an error),
    or None when it has none: not complete (a reader then builds it under the lock)."""
    if not os.path.lexists(entry):
        return None
    check_private(entry, "cache entry", is_dir=True)
    try:
        with open(entry / "done", encoding="utf-8") as f:
            done = json.load(f)
    except (OSError, ValueError):
        return None
    return done if isinstance(done, dict) else None


def _lookup(job: _Job) -> pathlib.Path | None:
    """The library of a complete, safe entry for the job's key, else None."""
    entry = job.entry
    done = read_done(entry)
    if done is None or done.get("key") != job.key or done.get("library") != job.output:
        return None  # a 128-bit prefix collision, or tampering: rebuild
    library = entry / job.output
    if not os.path.lexists(library):
        return None  # deleted: rebuild
    check_private(library, "cached library", is_dir=False)
    size, digest, stamped = _fingerprint(library, job.key)
    if (size, digest) != (done.get("size"), done.get("sha256")):
        # truncated, overwritten or from another build: loading it could crash the
        # process (a truncated library faults on first use), so it is rebuilt
        _debug(f"cache entry {entry} is damaged (its library changed since it was built); rebuilding")
        return None
    if not stamped:
        # another key's library (another model's: its weights, shapes and code differ) or
        # one from a kcc that did not stamp them, with a `done` made to match it
        _debug(f"cache entry {entry} is stale (its library was not built for this key); "
               "rebuilding")
        return None
    return library


def _fingerprint(path: pathlib.Path, key: str) -> tuple[int, str, bool]:
    """(size, sha256 hex, whether it ends with `key`'s stamp) of a library: a few hundred
    microseconds for a model's."""
    with open(path, "rb") as f:
        data = f.read()
    return len(data), hashlib.sha256(data).hexdigest(), data.endswith(STAMP + key.encode())


@contextlib.contextmanager
def _locked(path: pathlib.Path, what: str, wait: bool = True):
    """Hold an exclusive flock on `path` (created 0600, never a symlink). Yields whether it
    is held: with wait=False, False at once when another process holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise BuildError(
            f"Cannot open the kcc lock file {path}: {exc}. If it is a symlink, "
            f"remove it (`rm -f {path}`), or set $KCC_CACHE_DIR to a private directory."
        ) from exc
    try:
        check_private_fd(fd, str(path), "lock file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            _debug(f"waiting for another process building {what} ({path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _clear_leftovers(job: _Job) -> None:
    """Remove what killed or foreign builds of this key left (we hold its lock,
    so no live builder owns any of it)."""
    pattern = os.path.join(glob.escape(str(job.root)), f"tmp-{job.short}-*")
    for stale in glob.glob(pattern):
        shutil.rmtree(stale, ignore_errors=True)
    if os.path.lexists(job.entry):
        check_private(job.entry, "cache entry", is_dir=True)
        shutil.rmtree(job.entry)


def _build(job: _Job) -> None:
    """Build in a private temp dir, then rename it into place complete."""
    prefix = f"tmp-{job.short}-{os.getpid()}-"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir=job.root))  # mode 0700
    try:
        for name, text in job.sources.items():
            _write(tmp / name, text)
        _write(tmp / "build.ninja", ninja.render_build_file(
            job.compiled, job.output, job.toolchain, **job.args))
        _write(tmp / "key.json", json.dumps(job.inputs, indent=1, sort_keys=True) + "\n")
        status = ninja.run_ninja(str(tmp), str(tmp / "build.log"))
        if status != 0 or not (tmp / job.output).is_file():
            _fail(job, tmp, status)
        with open(tmp / job.output, "ab") as f:
            f.write(STAMP + job.key.encode())
            f.flush()
            os.fsync(f.fileno())  # the library is on disk before it is findable
        # `done` is written last, inside the temp dir, so the rename publishes
        # a complete entry in one step.
        size, digest, _ = _fingerprint(tmp / job.output, job.key)
        _write(tmp / "done", json.dumps({"key": job.key, "library": job.output, "size": size,
                                         "sha256": digest}) + "\n")
        os.rename(tmp, job.entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # no-op once renamed


def _fail(job: _Job, tmp: pathlib.Path, status: int) -> None:
    """Keep the failed build as failed-<key32>/ and raise a BuildError."""
    what = job.what
    kept = job.root / f"failed-{job.short}"
    if os.path.lexists(kept):
        check_private(kept, "failed build directory", is_dir=True)
        shutil.rmtree(kept)
    os.rename(tmp, kept)
    log_path = kept / "build.log"
    log = log_path.read_text(encoding="utf-8", errors="replace")
    failed, command = ninja.parse_failure(log)
    source = next((s for s in job.compiled if failed == ninja.object_name(s)),
                  job.compiled[0])
    tail = "\n".join(log.splitlines()[-_TAIL_LINES:])
    raise BuildError(
        f"Failed to compile {what} (ninja exit status {status}).\n"
        f"  command (run in {kept}): {command or '(see the log)'}\n"
        f"  generated source: {kept / source}\n"
        f"  full log: {log_path}\n"
        f"  rerun by hand: ninja -C {kept}\n"
        f"--- last {_TAIL_LINES} lines of the build output ---\n{tail}",
        what=what, command=command, source=str(kept / source),
        log_path=str(log_path), output_tail=tail,
    )


def _write(path: pathlib.Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def _debug(message: str) -> None:
    if os.environ.get("KCC_DEBUG", "") not in ("", "0"):
        print(f"[kcc.build] {message}", file=sys.stderr)
