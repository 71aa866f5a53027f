"""kcc's CUDA GEMM (csrc/include/kcc/cuda/gemm.cuh) against numpy: every transpose,
leading dimensions wider than the matrix, alpha/beta, both tile sizes, edge tiles, and the
fused bias + activation epilogue. Builds a tiny harness with nvcc; runs on a GPU."""
import ctypes

import numpy as np
import pytest

from gpu import needs_gpu

pytestmark = [pytest.mark.cuda, needs_gpu()]

HARNESS = r'''
#include <cuda_runtime.h>
#include "kcc/cuda/gemm.cuh"
#include "kcc/ops/activations.h"

template <bool TA, bool TB>
static void call(int epi, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias) {
    if (epi == 0) kcc::cuda::gemm<TA, TB>(0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else kcc::cuda::gemm<TA, TB>(0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                  kcc::cuda::BiasAct<kcc::act::Tanh>{bias});
}

extern "C" int run_gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, const float* A, int64_t sA,
                                const float* B, int64_t sB, float* C, int64_t sC) {
    // A shared (sA = 0) or per matrix, op(A) = A^T stored K x M; B N x K transposed; C M x N
    float *dA, *dB, *dC;
    const int64_t a = sA ? batch * sA : K * M, b = batch * sB, c = batch * sC;
    cudaMalloc(&dA, a * 4); cudaMalloc(&dB, b * 4); cudaMalloc(&dC, c * 4);
    cudaMemcpy(dA, A, a * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dB, B, b * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dC, C, c * 4, cudaMemcpyHostToDevice);
    kcc::cuda::gemm_batched<true, true>(0, batch, M, N, K, 1.0f, dA, M, sA, dB, K, sB, 1.0f, dC, N, sC);
    int err = (int)cudaDeviceSynchronize();
    cudaMemcpy(C, dC, c * 4, cudaMemcpyDeviceToHost);
    cudaFree(dA); cudaFree(dB); cudaFree(dC);
    return err;
}

extern "C" int run_gemm(int ta, int tb, int epi, int64_t M, int64_t N, int64_t K, float alpha,
                        const float* A, int64_t a_size, int64_t lda, const float* B, int64_t b_size,
                        int64_t ldb, float beta, float* C, int64_t c_size, int64_t ldc, const float* bias) {
    float *dA, *dB, *dC, *dbias;
    cudaMalloc(&dA, a_size * 4); cudaMalloc(&dB, b_size * 4); cudaMalloc(&dC, c_size * 4); cudaMalloc(&dbias, N * 4);
    cudaMemcpy(dA, A, a_size * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dB, B, b_size * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dC, C, c_size * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dbias, bias, N * 4, cudaMemcpyHostToDevice);
    if (!ta && !tb) call<false, false>(epi, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc, dbias);
    if (!ta && tb) call<false, true>(epi, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc, dbias);
    if (ta && !tb) call<true, false>(epi, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc, dbias);
    if (ta && tb) call<true, true>(epi, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc, dbias);
    int err = (int)cudaDeviceSynchronize();
    cudaMemcpy(C, dC, c_size * 4, cudaMemcpyDeviceToHost);
    cudaFree(dA); cudaFree(dB); cudaFree(dC); cudaFree(dbias);
    return err;
}
'''


@pytest.fixture(scope="module")
def harness():
    from kcc.runtime.cuda import build_unit, target_arch
    from kcc.runtime.native import headers_digest, include_dir
    path = build_unit(HARNESS, "gemm test harness", target_arch(), str(include_dir()), headers_digest())
    lib = ctypes.CDLL(str(path))
    lib.run_gemm.restype = ctypes.c_int
    i32, i64, f32, ptr = ctypes.c_int, ctypes.c_int64, ctypes.c_float, ctypes.POINTER(ctypes.c_float)
    lib.run_gemm.argtypes = [i32, i32, i32, i64, i64, i64, f32, ptr, i64, i64, ptr, i64, i64, f32, ptr,
                             i64, i64, ptr]
    lib.run_gemm_batched.restype = ctypes.c_int
    lib.run_gemm_batched.argtypes = [i64, i64, i64, i64, ptr, i64, ptr, i64, ptr, i64]
    return lib


SHAPES = [(1, 1, 1), (3, 5, 7), (32, 64, 784), (33, 65, 17), (200, 130, 70), (64, 64, 0), (1000, 900, 50)]


@pytest.mark.parametrize("M,N,K", SHAPES)
@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
@pytest.mark.parametrize("epi", [0, 1])
def test_gemm_matches_numpy(harness, M, N, K, ta, tb, epi):
    rng = np.random.default_rng(M * 7 + N * 3 + K + ta * 2 + tb)
    pad = 3
    a_rows, a_cols = (K, M) if ta else (M, K)
    b_rows, b_cols = (N, K) if tb else (K, N)
    lda, ldb, ldc = a_cols + pad, b_cols + pad, N + pad
    A = rng.standard_normal((a_rows, lda)).astype(np.float32)
    B = rng.standard_normal((b_rows, ldb)).astype(np.float32)
    C = rng.standard_normal((M, ldc)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    alpha, beta = 0.75, (0.0 if epi else 0.5)
    opA = A[:, :a_cols].T if ta else A[:, :a_cols]
    opB = B[:, :b_cols].T if tb else B[:, :b_cols]
    want = alpha * (opA.astype(np.float64) @ opB.astype(np.float64)) + beta * C[:, :N]
    if epi:
        want = np.tanh(want + bias)
    out = C.copy()
    f = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    err = harness.run_gemm(ta, tb, epi, M, N, K, alpha, f(A), A.size, lda, f(B), B.size, ldb,
                           beta, f(out), out.size, ldc, f(bias))
    assert err == 0
    np.testing.assert_allclose(out[:, :N], want, rtol=1e-4, atol=1e-4 * max(1, K ** 0.5))
    np.testing.assert_array_equal(out[:, N:], C[:, N:])   # the padding is never written


@pytest.mark.parametrize("shared_a", [True, False])
def test_batched_gemm_matches_numpy(harness, shared_a):
    rng = np.random.default_rng(5)
    batch, M, N, K = 5, 70, 45, 33
    A = rng.standard_normal(((1 if shared_a else batch), K, M)).astype(np.float32)
    B = rng.standard_normal((batch, N, K)).astype(np.float32)
    C = rng.standard_normal((batch, M, N)).astype(np.float32)
    want = np.stack([A[0 if shared_a else z].T.astype(np.float64) @ B[z].T + C[z] for z in range(batch)])
    out = C.copy()
    f = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    assert harness.run_gemm_batched(batch, M, N, K, f(A), 0 if shared_a else K * M, f(B), N * K, f(out), M * N) == 0
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
