"""Every model the test suite compiles, built again as a CUDA unit with nvcc for sm_90.

CI has no GPU, so this is how it knows that each model's generated CUDA compiles (issue 7):
tests/conftest.py hands every CPU model's rendered CUDA source to `NvccCheck.submit`; a
background thread compiles each distinct source while the tests run (one nvcc at a time,
leaving the other core to the tests), and `finish` compiles what is left on every core and
returns the failures.

Two depths (`check`), both with the device code unoptimised (-O0: how fast the kernels are
is the GPU benchmark's business):
  - ptx: nvcc's front end (host and device code: every type and template error) and the
    device code generator, about 0.7 s a unit. The suite's ~600 distinct units get this.
  - full: also ptxas (registers, shared memory limits) into a cubin, about 2.5 s a unit;
    tests/cuda/test_compile.py gives it to the CUDA cases, one or more models per op
    family. The host compiler's pass (about 2 s more a unit) runs where test_compile builds
    the guide models and the driver exactly as device='cuda' does (-O3, through the build
    cache).
"""
from __future__ import annotations

import hashlib
import os
import queue
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


class NvccCheck:
    def __init__(self, nvcc: str, include_dir: str):
        self.nvcc, self.include_dir = nvcc, include_dir
        self.dir = tempfile.TemporaryDirectory(prefix="kcc-nvcc-check-")
        self.todo: queue.Queue = queue.Queue()
        self.seen: set[str] = set()
        self.failures: list[str] = []
        self.built = 0
        self.lock = threading.Lock()
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
        path = Path(self.dir.name) / f"{digest}.cu"
        path.write_text(source, encoding="utf-8")
        self.todo.put((what, path))

    def _work(self) -> None:
        while True:
            item = self.todo.get()
            if item is None:
                return
            what, path = item
            error = check(self.nvcc, self.include_dir, path, full=False)
            with self.lock:
                self.built += 1
                if error:
                    self.failures.append(f"{what} ({path.name}): {error}")

    def finish(self) -> list[str]:
        """Compile what is left on every core; the failures (what, and nvcc's errors)."""
        self.threads += [self._start() for _ in range(max(0, len(os.sched_getaffinity(0)) - 1))]
        for _ in self.threads:
            self.todo.put(None)
        for t in self.threads:
            t.join()
        self.dir.cleanup()
        return self.failures
