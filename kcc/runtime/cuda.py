"""The CUDA backend: find the GPU and the toolkit, build a model's generated .cu unit.

Split like the CPU path (kcc/runtime/native.py): the generated unit has the same C ABI
(kcc/model_abi.h) with device pointers; the driver that owns device memory, the data,
and the CUDA graphs is csrc/cuda/session.cu, built once per machine into the kcc cache
and loaded with ctypes (kcc/runtime/cuda_session.py; the pip-installed kcc._runtime never
links CUDA, so a machine without it installs and runs the CPU path as before). Here too:
compile_only (nvcc without a GPU, for CI) and emulated_unit (the CUDA unit built for the
host, for tests without a GPU). KCC_CUDA_EMULATE=1 goes further: device='cuda' then runs
the emulated unit through the driver built for the host, so the tests exercise fit, weight
sync and data streaming on machines without a GPU (slowly: kernels are loops).
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os
import re

from kcc.build import build_shared_library
from kcc.build.toolchain import cuda_lib_dir, cuda_toolchain

# Architecture the CI compile check targets when no GPU is visible: Hopper, the GPU the
# project measures on.
DEFAULT_ARCH = "sm_90"
# The "architecture" of device='cuda' under KCC_CUDA_EMULATE=1: the host.
EMULATED = "emulated"


def emulating() -> bool:
    """KCC_CUDA_EMULATE=1: device='cuda' runs on the host (tests without a GPU)."""
    v = os.environ.get("KCC_CUDA_EMULATE", "").strip()
    if v not in ("", "0", "1"):
        raise ValueError(f"KCC_CUDA_EMULATE must be 0 or 1; got {v!r}")
    return v == "1"


def device_arch() -> str:
    """What device='cuda' builds for: EMULATED, else the GPU's architecture (target_arch),
    with CudaUnavailable before any build when no GPU could run the result."""
    if emulating():
        return EMULATED
    visible_gpu()
    return target_arch()


class CudaUnavailable(RuntimeError):
    """device='cuda' was asked for on a machine that cannot run it (no GPU, no runtime)."""


@functools.lru_cache(maxsize=1)
def cudart() -> ctypes.CDLL:
    """The CUDA runtime library, from the toolkit nvcc belongs to (or the loader's path)."""
    names = []
    libdir = cuda_lib_dir()
    if libdir:
        names += sorted(glob.glob(os.path.join(libdir, "libcudart.so*")))
    names += ["libcudart.so", "libcudart.so.13", "libcudart.so.12"]
    errors = []
    for name in names:
        try:
            return ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            errors.append(str(e))
    raise CudaUnavailable("device='cuda' needs the CUDA runtime (libcudart), which could not be "
                          "loaded: " + "; ".join(errors[-2:]))


def _cuda_error(lib, code: int) -> str:
    lib.cudaGetErrorString.restype = ctypes.c_char_p
    return f"{lib.cudaGetErrorString(code).decode(errors='replace')} (cudaError {code})"


@functools.lru_cache(maxsize=1)
def visible_gpu() -> tuple[str, str]:
    """(name, "sm_XY") of GPU 0, or CudaUnavailable saying why there is none."""
    lib = cudart()
    count = ctypes.c_int(0)
    err = lib.cudaGetDeviceCount(ctypes.byref(count))
    if err != 0 or count.value == 0:
        why = _cuda_error(lib, err) if err else "the CUDA runtime reports 0 devices"
        raise CudaUnavailable(f"device='cuda' was requested, but no CUDA GPU is visible: {why}. "
                              f"Use device='cpu' (the default) on this machine")
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    lib.cudaDeviceGetAttribute(ctypes.byref(major), 75, 0)   # cudaDevAttrComputeCapabilityMajor
    lib.cudaDeviceGetAttribute(ctypes.byref(minor), 76, 0)   # cudaDevAttrComputeCapabilityMinor
    return f"compute capability {major.value}.{minor.value}", f"sm_{major.value}{minor.value}"


def target_arch() -> str:
    """`KCC_CUDA_ARCH` ("sm_90", "90" or "9.0"), else the visible GPU's."""
    env = os.environ.get("KCC_CUDA_ARCH", "").strip()
    if env:
        m = re.fullmatch(r"(?:sm_|compute_)?(\d)\.?(\d+)", env)
        if not m:
            raise ValueError(f"KCC_CUDA_ARCH={env!r} is not a GPU architecture; expected e.g. "
                             f"'sm_90', '90' or '9.0'")
        return f"sm_{m.group(1)}{m.group(2)}"
    return visible_gpu()[1]


def build_unit(source: str, what: str, arch: str, include_dir: str, extra_key: str,
               emulation_opt: str = "-O0"):
    """nvcc the generated unit into the cache (for EMULATED: the host compiler at
    `emulation_opt`); returns the library path."""
    if arch == EMULATED:
        from kcc.runtime.native import with_headers_precompiled
        return build_shared_library({"model_emulated.cpp": source}, include_dirs=[include_dir],
                                    library_dirs=[], libraries=[], rpaths=[],
                                    toolchain=with_headers_precompiled(emulation_toolchain(emulation_opt), "cuda"),
                                    extra_key=extra_key,
                                    what=f"{what} (emulated)")
    libdir = cuda_lib_dir()
    return build_shared_library({"model.cu": source}, include_dirs=[include_dir],
                                library_dirs=[libdir] if libdir else [], libraries=[],
                                rpaths=[libdir] if libdir else [], toolchain=cuda_toolchain(arch),
                                extra_key=extra_key, what=what)




def cuda_source(native) -> str:
    """The CUDA unit of an already compiled (CPU) model: its traced graph through the
    passes as device='cuda' runs them (they differ: shared layers stack on the GPU only).
    The weights, inputs and outputs are the same, so the unit runs in the model's session."""
    from kcc.codegen import render
    from kcc.passes import optimize, plan_memory
    if native.device == "cuda":
        return native.source
    from kcc.codegen.canonical import canonical
    g = canonical(optimize(native.lowered.copy(), "cuda"))
    return render(g, *plan_memory(g), backend="cuda")


def compile_only(native, arch: str = DEFAULT_ARCH):
    """Render the CUDA unit of an already compiled (CPU) model and build it with nvcc,
    without a GPU: what CI runs for every model the tests build. `native` is a
    NativeModel (model._native). Returns the library path."""
    from kcc.runtime.native import headers_digest, include_dir
    return build_unit(cuda_source(native), f"{native.what} (CUDA)", arch, str(include_dir()),
                      headers_digest())


def emulation_toolchain(opt: str = "-O0"):
    """The host compiler with -DKCC_CUDA_EMULATE (kcc/cuda/runtime.cuh): CUDA sources
    build as plain C++, kernels as loops. -O0 by default: these builds check logic, not
    speed, and a model's unit compiles in 1.6 s at -O0 against 2.6 s at -O1 while its
    test runs take well under a second either way. A test that runs big kernels (the
    GEMM harness) asks for -O1."""
    import dataclasses

    from kcc.build import default_toolchain
    tc = default_toolchain()
    return dataclasses.replace(tc, cxxflags=tuple(f for f in tc.cxxflags if f != "-O3")
                               + (opt, "-DKCC_CUDA_EMULATE"))


def emulated_unit(native):
    """The CUDA unit of a compiled (CPU) model, built for the HOST: kernels become loops,
    so the CPU runtime (kcc._runtime.Session, one thread) can run it and tests compare it
    with the C++ unit where there is no GPU. Returns the library path."""
    from kcc.runtime.native import headers_digest, include_dir
    return build_unit(cuda_source(native), f"{native.what} (CUDA)", EMULATED, str(include_dir()),
                      headers_digest())
