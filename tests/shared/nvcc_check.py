"""Every model the test suite compiles, built again as a CUDA unit with nvcc for sm_90.

CI has no GPU, so this is how it knows that each model's generated CUDA compiles (issue 7):
tests/conftest.py hands every CPU model's rendered CUDA source to `NvccCheck.submit`; a
background thread compiles the distinct sources while the tests run (one nvcc at a time,
leaving the other core to the tests), and `finish` compiles what is left on every core and
returns the failures.

Units are compiled several to one nvcc (`check_batch`): one translation unit parses the CUDA
runtime's and kcc's headers, and instantiates kcc's shared kernel templates, once for all of
them, so 8 units take about a fifth of the time they take one by one. A batch that fails is
compiled again unit by unit, so each error is reported against its own unit.

Two depths, both with the device code unoptimised (-O0: how fast the kernels are is the GPU
benchmark's business):
  - ptx: nvcc's front end (host and device code: every type and template error) and the
    device code generator. The suite's ~600 distinct units get this.
  - full: also ptxas (registers, shared memory limits) into a cubin; tests/cuda/
    test_compile.py gives it to the CUDA cases, one or more models per op family. The host
    compiler's pass runs where test_compile builds the guide models and the driver exactly
    as device='cuda' does (-O3, through the build cache).
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
import threading
from pathlib import Path

ARCH = "sm_90"


def check_flags() -> list[str]:
    from kcc.build.toolchain import CUDA_FLAGS
    return [f for f in CUDA_FLAGS if f != "-O3"] + [f"-arch={ARCH}", "-Xcicc", "-O0", "-Xptxas", "-O0"]


def check(nvcc: str, include_dir: str, path: Path, full: bool) -> str | None:
    """nvcc's errors for the CUDA source at `path`, or None if it compiles (see above)."""
    out = path.with_suffix(".cubin" if full else ".ptx")
    try:
        proc = subprocess.run([nvcc, *check_flags(), "-I", include_dir, "-cubin" if full else "-ptx", str(path),
                               "-o", str(out)], capture_output=True, text=True, timeout=900)
        error = proc.stderr.strip() if proc.returncode else None
    except (OSError, subprocess.TimeoutExpired) as e:
        error = f"{type(e).__name__}: {e}"
    out.unlink(missing_ok=True)
    if error:
        lines = [ln for ln in error.splitlines() if "error" in ln] or error.splitlines()
        return "\n    ".join(lines[:8])
    return None


_INCLUDE = re.compile(r"^\s*#\s*include\b.*$", re.M)
_EXPORTED = re.compile(r'extern\s+"C"[^;{(]*?\b(kcc_\w+)\s*\(')


def batch_source(paths: list[Path]) -> str:
    """One translation unit holding every unit at `paths`, so nvcc parses the CUDA runtime
    and kcc's headers once for all of them (about half of a unit's check on its own).

    Each unit goes into its own namespace, with its C entry points (kcc_predict, ...)
    renamed by macros so that they do not collide; its #include lines are hoisted to the
    top (include guards keep them out of the namespaces). `#line` keeps nvcc's messages
    pointing at the unit's own file and line."""
    includes: dict[str, None] = {}
    bodies = []
    for k, path in enumerate(paths):
        text = path.read_text(encoding="utf-8")
        for line in _INCLUDE.findall(text):
            includes[line.strip()] = None
        names = sorted(set(_EXPORTED.findall(text)))
        body = _INCLUDE.sub("", text)   # the line stays, empty: numbering is unchanged
        bodies.append("\n".join([
            f"namespace kcc_check_{k} {{",
            *(f"#define {n} {n}_{k}" for n in names),
            f'#line 1 "{path.name}"',
            body,
            *(f"#undef {n}" for n in names),
            f"}}  // namespace kcc_check_{k}",
        ]))
    return "\n".join(["// nvcc_check.py: several generated units in one translation unit", *includes, *bodies, ""])


def check_batch(nvcc: str, include_dir: str, paths: list[Path], full: bool) -> list[str | None]:
    """`check` of each unit at `paths`: compiled together (batch_source); when that fails,
    one by one, so that each error is reported against its own unit."""
    if len(paths) > 1:
        batch = paths[0].with_name(f"batch-{paths[0].stem}.cu")
        batch.write_text(batch_source(paths), encoding="utf-8")
        error = check(nvcc, include_dir, batch, full)
        batch.unlink(missing_ok=True)
        if error is None:
            return [None] * len(paths)
    return [check(nvcc, include_dir, p, full) for p in paths]


class NvccCheck:
    """The background check: `submit` each model's source; a thread compiles the distinct
    ones BATCH at a time (one nvcc, leaving the other core to the tests); `finish`
    compiles the rest on every core and returns the failures. Under pytest-xdist each
    worker runs one, and they share `claims` so that a unit is compiled once."""
    BATCH = 16

    def __init__(self, nvcc: str, include_dir: str, claims: str | None = None):
        self.nvcc, self.include_dir = nvcc, include_dir
        # several test processes (pytest-xdist) share `claims`: the first to claim a unit's
        # digest there compiles it, the others skip it
        self.claims = claims
        if claims:
            os.makedirs(claims, exist_ok=True)
        self.dir = tempfile.TemporaryDirectory(prefix="kcc-nvcc-check-")
        self.todo: list[tuple[str, Path]] = []
        self.ready = threading.Condition()
        self.finishing = False
        self.seen: set[str] = set()
        self.failures: list[str] = []
        self.built = 0
        self.threads = [self._start()]

    def _start(self) -> threading.Thread:
        t = threading.Thread(target=self._work, daemon=True)
        t.start()
        return t

    def submit(self, what: str, source: str) -> None:
        digest = hashlib.sha256(source.encode()).hexdigest()[:20]
        if digest in self.seen:   # the same model built by another test
            return
        self.seen.add(digest)
        if self.claims:
            try:
                os.close(os.open(os.path.join(self.claims, digest), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:   # another test process has it
                return
        path = Path(self.dir.name) / f"{digest}.cu"
        path.write_text(source, encoding="utf-8")
        with self.ready:
            self.todo.append((what, path))
            if len(self.todo) >= self.BATCH:
                self.ready.notify()

    def _work(self) -> None:
        while True:
            with self.ready:
                self.ready.wait_for(lambda: len(self.todo) >= self.BATCH or self.finishing)
                if not self.todo:
                    return
                # finishing: the rest split over the threads, so every core gets a batch
                take = min(self.BATCH, len(self.todo) // len(self.threads) + 1) if self.finishing else self.BATCH
                batch, self.todo = self.todo[:take], self.todo[take:]
            errors = check_batch(self.nvcc, self.include_dir, [path for _, path in batch], full=False)
            with self.ready:
                self.built += len(batch)
                self.failures += [f"{what} ({path.name}): {error}"
                                  for (what, path), error in zip(batch, errors) if error]

    def finish(self) -> list[str]:
        """Compile what is left on every core; the failures (what, and nvcc's errors)."""
        with self.ready:
            self.threads += [self._start() for _ in range(max(0, len(os.sched_getaffinity(0)) - 1))]
            self.finishing = True
            self.ready.notify_all()
        for t in self.threads:
            t.join()
        self.dir.cleanup()
        return self.failures
