"""Building exports with CMake in the tests: configure, build, ctest, install, and a
separate consumer project that finds the installed package."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
C_DIR = HERE / "c"


def missing_tools() -> str | None:
    """Why the CMake tests cannot run here, or None."""
    for tool in ("cmake", "ctest"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not (shutil.which("cc") or shutil.which("gcc")) or not (shutil.which("c++") or shutil.which("g++")):
        return "no C and C++ compiler"
    return None


def generator() -> list[str]:
    return ["-G", "Ninja"] if shutil.which("ninja") else []


def run(cmd, cwd=None, env=None, timeout=300) -> str:
    """Runs `cmd`; its output, or an AssertionError that shows the command and the output."""
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
                             f"{proc.stdout[-6000:]}")
    return proc.stdout


CONSUMER_CMAKE = """cmake_minimum_required(VERSION 3.18)
project(consumer_of_{name} C CXX)
find_package({name} REQUIRED)
foreach(kind shared static)
    add_executable(consumer_${{kind}} {c_dir}/consumer.c)
    target_include_directories(consumer_${{kind}} PRIVATE {c_dir})
    target_compile_definitions(consumer_${{kind}} PRIVATE KCC_MODEL={name} KCC_MODEL_UPPER={NAME})
endforeach()
target_link_libraries(consumer_shared PRIVATE {name}::{name})
target_link_libraries(consumer_static PRIVATE {name}::{name}_static)
"""


# The consumer's runs: (library kind, threads); 0 is the library's default (every CPU).
CONSUMER_RUNS = [("shared", 1), ("shared", 2), ("shared", 3), ("static", 0)]


@dataclass
class Pipeline:
    """One export built one way (BLAS or not), installed, and used by a consumer project."""
    name: str
    source: Path
    work: Path
    blas: bool
    xs: list[np.ndarray]
    compiler: str = ""   # "clang": CMake builds the export and the consumer with Clang; "": its default
    blas_on: bool = False
    ctest_log: str = ""
    # (consumer kind, threads) -> outputs; threads 0 is the library's default
    outputs: dict[tuple[str, int], list[np.ndarray]] = field(default_factory=dict)
    os_threads: dict[tuple[str, int], int] = field(default_factory=dict)   # while the handle lived
    seconds: float = 0.0
    error: BaseException | None = None

    def run(self, jobs: int) -> "Pipeline":
        t0 = time.perf_counter()
        try:
            self._run(jobs)
        except BaseException as exc:   # reported by the test that reads it
            self.error = exc
        self.seconds = time.perf_counter() - t0
        return self

    def _compilers(self) -> list[str]:
        if self.compiler == "clang":
            return ["-DCMAKE_C_COMPILER=clang", "-DCMAKE_CXX_COMPILER=clang++"]
        return []

    def _run(self, jobs: int) -> None:
        build, prefix = self.work / "build", self.work / "prefix"
        log = run(["cmake", "-S", self.source, "-B", build, *generator(), *self._compilers(),
                   "-DCMAKE_BUILD_TYPE=Release",
                   f"-D{self.name.upper()}_USE_BLAS={'ON' if self.blas else 'OFF'}",
                   f"-DCMAKE_INSTALL_PREFIX={prefix}"])
        self.blas_on = f"{self.name}: BLAS ON" in log
        if self.blas and not self.blas_on:
            return      # no BLAS on this machine: nothing more to learn from this variant
        run(["cmake", "--build", build, "-j", jobs])
        self.ctest_log = run(["ctest", "--test-dir", build, "--output-on-failure"])
        run(["cmake", "--install", build])
        consumer = self.work / "consumer"
        consumer.mkdir()
        (consumer / "CMakeLists.txt").write_text(CONSUMER_CMAKE.format(
            name=self.name, NAME=self.name.upper(), c_dir=C_DIR.as_posix()))
        cbuild = self.work / "consumer-build"
        run(["cmake", "-S", consumer, "-B", cbuild, *generator(), *self._compilers(),
             f"-DCMAKE_PREFIX_PATH={prefix}"])
        run(["cmake", "--build", cbuild, "-j", jobs])
        data = self.work / "data"
        data.mkdir()
        for i, x in enumerate(self.xs):
            x.tofile(data / f"in_{i}.bin")
        weights = prefix / "share" / self.name / f"{self.name}.safetensors"
        for kind, threads in CONSUMER_RUNS:
            log = run([cbuild / f"consumer_{kind}", weights, len(self.xs[0]), data, threads])
            self.os_threads[(kind, threads)] = int(log.split("os threads")[-1])
            self.outputs[(kind, threads)] = [np.fromfile(p, np.float32) for p in sorted(data.glob("out_*.bin"))]
            for p in data.glob("out_*.bin"):
                p.unlink()


def built(pipelines: dict, name: str, blas: bool, compiler: str = "") -> Pipeline:
    """The pipeline of `name` built with or without BLAS (by Clang with compiler="clang"):
    its error re-raised here (in the test that reads it), skipped when BLAS was asked for
    and CMake found none, or Clang was and is not installed."""
    if compiler == "clang" and shutil.which("clang++") is None:
        pytest.skip("clang is not installed (CI installs it to build the exports with both GCC and Clang)")
    p = pipelines[(name, blas, compiler)]
    if p.error is not None:
        raise p.error
    if blas and not p.blas_on:
        pytest.skip("no BLAS with cblas_sgemm found by CMake here (CI installs libopenblas-dev)")
    return p


# The ways every export is built: (BLAS, compiler). Clang only without BLAS: what differs
# between the compilers is the model's code and its CPU dispatch, not the BLAS calls.
VARIANTS = [(False, ""), (True, ""), (False, "clang")]
VARIANT_IDS = ["portable", "blas", "portable-clang"]


def jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1
