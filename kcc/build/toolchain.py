"""A toolchain is data: which compiler, which flags, what a library is called.

Backend differences are data (STYLE.md 11): a CUDA toolchain is another
`Toolchain` value (compiler nvcc, its own flags, `source_exts` with ".cu"),
not an `if cuda:` inside the build code.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import platform
import shlex
import shutil
import subprocess

from kcc.build.errors import BuildError

# Code generation flags. -ffp-contract=fast lets the compiler fuse a*b+c into
# an FMA; -fno-math-errno lets it inline sqrt/exp without errno bookkeeping.
DEFAULT_CXXFLAGS = (
    "-O3", "-march=native", "-std=c++17", "-fPIC",
    "-fno-math-errno", "-DNDEBUG", "-ffp-contract=fast",
)
DEFAULT_LDFLAGS = ("-shared",)


@dataclasses.dataclass(frozen=True)
class Toolchain:
    """How to turn sources into one shared library.

    compiler: absolute path of the compiler driver (also used to link).
    cxxflags: flags for each compile step (`-c` is added by the build rule).
    ldflags: flags for the link step that makes the shared library.
    suffix: file name ending of the library.
    source_exts: which source names are compiled; other files (headers)
        are only written next to them.
    depfile: whether the compiler understands `-MMD -MF file`, so that a
        person rerunning `ninja` by hand recompiles after editing a header.
    rpath_prefix: how the driver passes an rpath to the linker (nvcc
        spells it "-Xlinker=-rpath,").
    prelude: a header each compile starts with (`-include`), found precompiled
        next to itself (kcc/build/pch.py). It only saves parsing, the library is
        the same with it or without (a unit includes the same headers itself),
        so it is not in key_fields: a model hits the cache either way.
    """

    name: str
    compiler: str
    cxxflags: tuple[str, ...] = DEFAULT_CXXFLAGS
    ldflags: tuple[str, ...] = DEFAULT_LDFLAGS
    suffix: str = ".so"
    source_exts: tuple[str, ...] = (".cpp", ".cc", ".cxx")
    depfile: bool = True
    rpath_prefix: str = "-Wl,-rpath,"
    prelude: str = ""

    def key_fields(self) -> dict:
        """Everything about this toolchain that can change the built library."""
        return {
            "name": self.name,
            "compiler": self.compiler,
            "compiler_version": compiler_version(self.compiler),
            "cxxflags": list(self.cxxflags),
            "ldflags": list(self.ldflags),
            "suffix": self.suffix,
            "source_exts": list(self.source_exts),
            "rpath_prefix": self.rpath_prefix,
            "target": target_isa(self.compiler, self.cxxflags + self.ldflags),
        }


def default_toolchain() -> Toolchain:
    """The host C++ compiler: `$CXX` if set, else g++, c++ or clang++; with the words of
    `$KCC_CXXFLAGS` after kcc's own compile flags."""
    return _default_toolchain(os.environ.get("CXX", ""), os.environ.get("KCC_CXXFLAGS", ""))


def _split(variable: str, value: str, advice: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError as exc:   # an unbalanced quote
        raise BuildError(f"${variable} is set to {value!r}, which does not parse as a command line "
                         f"({exc}). {advice}") from None


@functools.lru_cache(maxsize=None)
def _default_toolchain(cxx_env: str, flags_env: str) -> Toolchain:
    # $KCC_CXXFLAGS comes after kcc's flags, so that its -O1 or -O0 wins over kcc's -O3
    # (the compiler takes the last -O): -O0 -g to step through a model's unit in gdb,
    # -O1 to build in half the time where the model's speed does not matter (the test
    # suite). The flags are part of the build cache key (Toolchain.key_fields).
    user = tuple(_split("KCC_CXXFLAGS", flags_env,
                        "Set it to extra compiler flags, e.g. KCC_CXXFLAGS='-O0 -g', or unset it."))
    words = _split("CXX", cxx_env, "Set $CXX to a C++ compiler, e.g. CXX=g++, or unset it.")
    if words:
        compiler = shutil.which(words[0])
        if compiler is None:
            raise BuildError(
                f"$CXX is set to {cxx_env!r}, but {words[0]!r} was not found "
                "on PATH. Set $CXX to an installed C++ compiler or unset it."
            )
        # CXX="g++ -m64" style: the extra words are flags for every step.
        extra = tuple(words[1:])
        return Toolchain(
            name=os.path.basename(compiler),
            compiler=compiler,
            cxxflags=extra + DEFAULT_CXXFLAGS + user,
            ldflags=extra + DEFAULT_LDFLAGS,
        )
    for candidate in ("g++", "c++", "clang++"):
        compiler = shutil.which(candidate)
        if compiler is not None:
            return Toolchain(name=candidate, compiler=compiler, cxxflags=DEFAULT_CXXFLAGS + user)
    raise BuildError(
        "No C++ compiler found: looked for $CXX, g++, c++ and clang++ on PATH. "
        "Install one (e.g. `apt-get install g++`) or set $CXX."
    )


@functools.lru_cache(maxsize=None)
def compiler_version(compiler: str) -> str:
    """`compiler --version` output, once per process (it costs a process spawn).

    The whole output is kept, not only the first line: nvcc puts its version
    on the last line.
    """
    try:
        proc = subprocess.run(
            [compiler, "--version"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(
            f"Could not run the compiler {compiler!r} (`{compiler} --version` "
            f"failed: {exc}). Check that it is installed, or set $CXX."
        ) from exc
    if proc.returncode != 0:
        raise BuildError(
            f"`{compiler} --version` exited with status {proc.returncode}: "
            f"{proc.stderr.strip()[-2000:]}. Check the compiler, or set $CXX."
        )
    return proc.stdout.strip()


def target_isa(compiler: str, flags: tuple[str, ...]) -> str:
    """What the code is built for, beyond what the flags say.

    `-march=native` (or any '*native*' flag) makes the binary depend on the
    host CPU, so the host CPU joins the key: a cache shared over NFS, or a
    container moved to an older machine, must not reuse an AVX-512 library.
    """
    machine = platform.machine()
    if not any("native" in flag for flag in flags):
        return machine
    return machine + "\n" + _host_cpu(compiler)


@functools.lru_cache(maxsize=None)
def _host_cpu(compiler: str) -> str:
    # /proc/cpuinfo: the model name and the feature flags of the first CPU.
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            wanted = {}
            for line in f:
                field, _, value = line.partition(":")
                field = field.strip()
                if field in ("model name", "flags", "Features", "CPU part"):
                    wanted.setdefault(field, value.strip())
                if not line.strip() and wanted:
                    break  # end of the first processor's block
        if wanted:
            return "\n".join(f"{k}: {v}" for k, v in sorted(wanted.items()))
    except OSError:
        pass
    # No /proc (macOS, sandboxes): ask the compiler what native resolves to.
    proc = subprocess.run(
        [compiler, "-march=native", "-Q", "--help=target"],
        capture_output=True, text=True, timeout=60,
    )
    return proc.stdout


# nvcc flags for generated CUDA units. --extended-lambda: templates write kernels as
# __device__ lambdas (kcc/cuda/launch.cuh). No fast-math: results must match the CPU
# unit within float tolerance, and our own fast_exp is already used where it matters.
CUDA_FLAGS = ("-O3", "-std=c++17", "--extended-lambda", "-Xcompiler=-fPIC,-fno-math-errno",
              "-DNDEBUG")


def find_nvcc() -> str | None:
    """nvcc: `$KCC_NVCC`, else `$CUDA_HOME/bin/nvcc`, else on PATH, else /usr/local/cuda."""
    candidates = [os.environ.get("KCC_NVCC", "")]
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            candidates.append(os.path.join(os.environ[var], "bin", "nvcc"))
    candidates += [shutil.which("nvcc") or "", "/usr/local/cuda/bin/nvcc"]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.realpath(c)
    return None


def cuda_lib_dir() -> str | None:
    """The toolkit's library folder (libcudart.so): next to nvcc's bin/, else under
    $CUDA_HOME or /usr/local/cuda (nvcc on PATH may be a wrapper script elsewhere)."""
    roots = []
    nvcc = find_nvcc()
    if nvcc:
        roots.append(os.path.dirname(os.path.dirname(nvcc)))
    roots += [os.environ.get(v, "") for v in ("CUDA_HOME", "CUDA_PATH")] + ["/usr/local/cuda"]
    for root in filter(None, roots):
        for sub in ("lib64", "lib", os.path.join("targets", "x86_64-linux", "lib")):
            d = os.path.join(root, sub)
            if os.path.isdir(d) and any(f.startswith("libcudart.so") for f in os.listdir(d)):
                return d
    return None


def cuda_toolchain(arch: str) -> Toolchain:
    """nvcc for one GPU architecture, e.g. "sm_90" (SASS for it plus its PTX)."""
    nvcc = find_nvcc()
    if nvcc is None:
        raise BuildError(
            "device='cuda' needs the CUDA compiler nvcc, which was not found: looked at "
            "$KCC_NVCC, $CUDA_HOME/bin, PATH and /usr/local/cuda/bin. Install the CUDA "
            "toolkit, or set KCC_NVCC to nvcc's path."
        )
    arch_flag = f"-arch={arch}"
    return Toolchain(
        name="nvcc", compiler=nvcc,
        cxxflags=CUDA_FLAGS + (arch_flag,),
        # One shared libcudart for the driver and every model unit in the process (a static
        # copy per library would give each its own runtime state).
        ldflags=("-shared", arch_flag, "-cudart", "shared"),
        source_exts=(".cu",),
        depfile=False,
        rpath_prefix="-Xlinker=-rpath,",
    )
