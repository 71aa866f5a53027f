"""CPU dispatch of an export on x86-64: the library holds the model compiled for any
x86-64 (generic) and for x86-64-v4 (AVX-512). Both variants give model.predict's outputs
(KCC_EXPORT_ISA forces each), the default picks x86v4 where the CPU has it, and the two
objects share no external name (else the linker could run one's code for the other)."""
import os
import platform
import re
import shutil
import subprocess

import numpy as np
import pytest

from export_builds import VARIANT_IDS, VARIANTS, built, generator, run
from export_models import MODELS

TOL = 1e-5
X86V4_FEATURES = ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma")


def cpu_has_x86v4() -> bool:
    """What the library's __builtin_cpu_supports check says, from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return all(feature in flags for feature in X86V4_FEATURES)


def _dispatching(pipelines, name, blas=False, compiler=""):
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("CPU dispatch is for x86-64")
    return built(pipelines, name, blas, compiler)


def _consumer(p, tmp_path, isa):
    """Runs the installed export's consumer (shared library, 2 threads) with
    KCC_EXPORT_ISA=isa (None: unset); (the variant it reports, its outputs)."""
    data = tmp_path / f"data-{isa}"
    data.mkdir()
    for i, x in enumerate(p.xs):
        x.tofile(data / f"in_{i}.bin")
    env = {k: v for k, v in os.environ.items() if k != "KCC_EXPORT_ISA"}
    if isa is not None:
        env["KCC_EXPORT_ISA"] = isa
    weights = p.work / "prefix" / "share" / p.name / f"{p.name}.safetensors"
    log = run([p.work / "consumer-build" / "consumer_shared", weights, len(p.xs[0]), data, 2], env=env)
    ran = re.search(r"isa (\w+)", log).group(1)
    return ran, [np.fromfile(q, np.float32) for q in sorted(data.glob("out_*.bin"))]


@pytest.mark.parametrize("compiler", ["", "clang"], ids=["default-compiler", "clang"])
@pytest.mark.parametrize("isa", ["generic", "x86v4"])
@pytest.mark.parametrize("name", list(MODELS))
def test_each_variant_matches_predict(exports, pipelines, tmp_path, name, isa, compiler):
    p = _dispatching(pipelines, name, compiler=compiler)
    if isa == "x86v4" and not cpu_has_x86v4():
        pytest.skip(f"this CPU lacks some of {', '.join(X86V4_FEATURES)}: the x86v4 variant cannot run")
    ran, got = _consumer(p, tmp_path, isa)
    assert ran == isa
    _, _, _, ys = exports[name]
    assert len(got) == len(ys)
    for i, (g, y) in enumerate(zip(got, ys)):
        diff = np.max(np.abs(g.reshape(y.shape) - y))
        assert diff <= TOL, f"{name} ({isa}, {compiler or 'default compiler'}) output {i}: max abs diff {diff}"


def test_default_picks_the_best_variant(pipelines, tmp_path):
    p = _dispatching(pipelines, "winograd")
    ran, _ = _consumer(p, tmp_path, None)
    assert ran == ("x86v4" if cpu_has_x86v4() else "generic")


def test_forcing_x86v4_without_avx512_is_an_error(pipelines, tmp_path):
    p = _dispatching(pipelines, "mlp")
    if cpu_has_x86v4():
        pytest.skip("this CPU has AVX-512: forcing x86v4 works (c/api_errors.c checks the error without the variant)")
    with pytest.raises(AssertionError, match="lacks some of AVX-512"):
        _consumer(p, tmp_path, "x86v4")


def _defined_globals(obj) -> set[str]:
    """The global and weak symbols `obj` defines, demangled. Not counted: DW.ref.<routine>,
    the data word that C++ exception tables of every object emit (weak, hidden) to point to
    the runtime's personality routine (__gxx_personality_v0): no code of ours, the same
    value in every object, so the linker merging it changes nothing."""
    out = subprocess.run(["nm", "-C", "-g", "--defined-only", str(obj)], check=True, text=True,
                         stdout=subprocess.PIPE).stdout
    names = {line.split(" ", 2)[2] for line in out.splitlines() if line.count(" ") >= 2}
    return {n for n in names if not n.startswith("DW.ref.")}


@pytest.mark.parametrize("blas,compiler", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("name", list(MODELS))
def test_variants_share_no_external_symbol(pipelines, name, blas, compiler):
    """nm on the two objects of src/model.cpp: no global or weak symbol of the AVX-512 one
    is defined by the generic one too, each of its names carries the export's x86v4
    prefix, and the generic one's kcc code carries the export's prefix (two exports in one
    program share no code either)."""
    p = _dispatching(pipelines, name, blas, compiler)
    if shutil.which("nm") is None:
        pytest.skip("needs nm (binutils)")
    files = p.work / "build" / "CMakeFiles"
    generic = next(files.glob(f"{name}_objects.dir/**/model.cpp.o"))
    x86v4 = next(files.glob(f"{name}_x86v4.dir/**/model.cpp.o"))
    ours, theirs = _defined_globals(generic), _defined_globals(x86v4)
    assert f"{name}_kcc_predict" in ours and f"{name}_kcc_x86v4_kcc_predict" in theirs
    assert not ours & theirs, f"defined by both objects: {sorted(ours & theirs)}"
    # a function template's demangled name starts with its return type ("void kcc_x86v4::
    # pool::max_forward<true>(...)": Clang keeps such instantiations out of line)
    prefixed = re.compile(rf"^([^(]* )?({name}_kcc_x86v4::|{name}_kcc_x86v4_)")
    unprefixed = [s for s in theirs if not prefixed.match(s)]
    assert not unprefixed, f"names of the x86v4 object without its prefix: {unprefixed}"
    bare = re.compile(r"^([^(]* )?(kcc::|kcc_[a-z])")   # kcc's namespace or a header global, unrenamed
    unprefixed = [s for s in ours if bare.match(s)]
    assert not unprefixed, f"names of the generic object without the export's prefix: {unprefixed}"
    if name == "winograd" and shutil.which("objdump"):   # the 16-float transforms in zmm registers
        assert "%zmm" in run(["objdump", "-d", x86v4])
        assert "%zmm" not in run(["objdump", "-d", generic])


@pytest.mark.parametrize("option", ["DISPATCH=OFF", "NATIVE=ON"])
def test_one_variant_builds(exports, tmp_path, option):
    """-D<NAME>_DISPATCH=OFF builds the generic model alone, -D<NAME>_NATIVE=ON the build
    machine's; the C API then has no x86v4 to call, and ctest passes."""
    if shutil.which("cmake") is None or shutil.which("ctest") is None:
        pytest.skip("needs CMake")
    _, folder, _, _ = exports["mlp"]
    build = tmp_path / "build"
    log = run(["cmake", "-S", folder, "-B", build, *generator(), "-DCMAKE_BUILD_TYPE=Release",
               f"-DMLP_{option}", "-DMLP_USE_BLAS=OFF", "-DMLP_BUILD_EXAMPLE=OFF"])
    assert "mlp: CPU dispatch OFF" in log
    run(["cmake", "--build", build, "-j", "2"])
    assert not list((build / "CMakeFiles").glob("mlp_x86v4.dir"))
    assert "100% tests passed" in run(["ctest", "--test-dir", build, "--output-on-failure"])
