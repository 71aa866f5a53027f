"""The portable GEMM an export uses without a BLAS (kcc/gemm.h), against a double
reference over every transposition and edge size, for the baseline target and for this
machine's (-march=native: wider vectors, and on an AVX-512 machine the direct kernel of
kcc/gemm_direct.h that narrow products take, with or without a BLAS); and the BLAS
declaration with the standard, unprefixed cblas name compiles."""
import shutil

import pytest

from export_builds import C_DIR, run
from kcc.runtime.native import include_dir


@pytest.mark.parametrize("arch", [[], ["-march=native"]], ids=["baseline", "native"])
def test_portable_gemm_matches_reference(tmp_path, arch):
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    exe = tmp_path / "gemm_check"
    run(["g++", "-std=c++17", "-O2", *arch, "-I", include_dir(), C_DIR / "gemm_check.cpp", "-o", exe])
    out = run([exe])
    assert " 0 mismatches" in out, out
    avx512 = "avx512f" in open("/proc/cpuinfo").read().split()
    assert ("direct kernel: built" in out) == (bool(arch) and avx512), out


def test_blas_declaration_with_standard_names_compiles(tmp_path):
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    src = tmp_path / "use.cpp"
    src.write_text('#include "kcc/gemm.h"\n'
                   'void f(float* c, const float* a, const float* b) { kcc::gemm(false, true, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2); }\n')
    run(["g++", "-std=c++17", "-DKCC_USE_BLAS", "-I", include_dir(), "-c", src, "-o", tmp_path / "use.o"])
    syms = run(["nm", tmp_path / "use.o"])
    assert " U cblas_sgemm" in syms, syms
