"""kcc's CUDA GEMM (csrc/include/kcc/cuda/gemm.cuh) against numpy: every transpose, every
tile shape, edge tiles, float4 (leading dimensions a multiple of 4) and scalar (wider, odd
leading dimensions) loads and stores, alpha/beta, the fused bias + activation epilogue,
batches, and split-K. Builds a tiny harness with nvcc and runs it on the GPU; where there
is none, builds it for the host (KCC_CUDA_EMULATE), which runs the same tile code, thread
by thread (races and speed need the GPU)."""
import ctypes

import numpy as np
import pytest

from gpu import gpu_reason

pytestmark = [pytest.mark.cuda]

HARNESS = r'''
#include "kcc/cuda/runtime.cuh"
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

extern "C" int gemm_tile_shape(int64_t M, int64_t N, int64_t batch) {
    return kcc::cuda::gemm_tile_shape(M, N, batch);
}

extern "C" int64_t gemm_split_slices(int64_t M, int64_t N, int64_t K, int64_t work_floats) {
    return kcc::cuda::split_k_slices(M, N, K, work_floats);
}

// C = tanh(alpha op(A) op(B) + beta C + bias) split over K, op(A) = A^T (K x M), B (K x N)
extern "C" int run_gemm_split(int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B,
                              float beta, float* C, int64_t ldc, const float* bias, int64_t work_floats) {
    float *dA, *dB, *dC, *dbias, *work;
    cudaMalloc(&dA, K * M * 4); cudaMalloc(&dB, K * N * 4); cudaMalloc(&dC, M * ldc * 4);
    cudaMalloc(&dbias, N * 4); cudaMalloc(&work, work_floats * 4);
    cudaMemcpy(dA, A, K * M * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dB, B, K * N * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dC, C, M * ldc * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dbias, bias, N * 4, cudaMemcpyHostToDevice);
    kcc::cuda::gemm_split<true, false>(0, M, N, K, alpha, dA, M, dB, N, beta, dC, ldc, work, work_floats,
                                       kcc::cuda::BiasAct<kcc::act::Tanh>{dbias});
    int err = (int)cudaDeviceSynchronize();
    cudaMemcpy(C, dC, M * ldc * 4, cudaMemcpyDeviceToHost);
    cudaFree(dA); cudaFree(dB); cudaFree(dC); cudaFree(dbias); cudaFree(work);
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


def _load(source):
    from kcc.runtime.cuda import EMULATED, build_unit, target_arch
    from kcc.runtime.native import headers_digest, include_dir
    arch = EMULATED if gpu_reason() else target_arch()
    # -O1 when emulated: the big products below take twice as long at the default -O0
    path = build_unit(source, "gemm test harness", arch, str(include_dir()), headers_digest(), emulation_opt="-O1")
    lib = ctypes.CDLL(str(path))
    lib.run_gemm.restype = ctypes.c_int
    i32, i64, f32, ptr = ctypes.c_int, ctypes.c_int64, ctypes.c_float, ctypes.POINTER(ctypes.c_float)
    lib.run_gemm.argtypes = [i32, i32, i32, i64, i64, i64, f32, ptr, i64, i64, ptr, i64, i64, f32, ptr,
                             i64, i64, ptr]
    lib.run_gemm_batched.restype = ctypes.c_int
    lib.run_gemm_batched.argtypes = [i64, i64, i64, i64, ptr, i64, ptr, i64, ptr, i64]
    lib.run_gemm_split.restype = ctypes.c_int
    lib.run_gemm_split.argtypes = [i64, i64, i64, f32, ptr, ptr, f32, ptr, i64, ptr, i64]
    lib.gemm_tile_shape.restype = i32
    lib.gemm_tile_shape.argtypes = [i64, i64, i64]
    lib.gemm_split_slices.restype = i64
    lib.gemm_split_slices.argtypes = [i64, i64, i64, i64]
    return lib


@pytest.fixture(scope="module")
def harness():
    return _load(HARNESS)


@pytest.fixture(scope="module")
def small_grid_harness():
    """The harness with grids of at most 2 column tiles and 2 matrices a launch."""
    return _load("#define KCC_CUDA_MAX_GRID_YZ 2\n" + HARNESS)


# 32 x 32 tiles for all but the last three: 128 x 128 (1700 x 1200), 128 x 64 (W4's conv,
# 17000 pixel rows x 64 filters) and 64 x 128; K = 17 and 13 end on a partial float4 group
SHAPES = [(1, 1, 1), (3, 5, 7), (32, 64, 784), (33, 65, 17), (200, 131, 70), (64, 64, 0), (1000, 900, 50),
          (1700, 1200, 13), (17000, 64, 20), (60, 17000, 9)]


def test_tile_shapes_cover_every_kernel(harness):
    assert {harness.gemm_tile_shape(M, N, 1) for M, N, _ in SHAPES} == {32032, 128064, 64128, 128128}
    assert harness.gemm_tile_shape(1700, 1200, 1) == 128128
    assert harness.gemm_tile_shape(17000, 64, 1) == 128064
    assert harness.gemm_tile_shape(60, 17000, 1) == 64128
    assert harness.gemm_tile_shape(32, 64, 1) == 32032
    assert harness.gemm_tile_shape(256, 256, 132) == 128128   # a batch fills the SMs too
    assert harness.gemm_tile_shape(64, 529, 32) == 64128      # W4's channels_first conv forward


@pytest.mark.parametrize("M,N,K", SHAPES)
@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
@pytest.mark.parametrize("epi", [0, 1])
@pytest.mark.parametrize("pad", ["none", "aligned", "odd"])
def test_gemm_matches_numpy(harness, M, N, K, ta, tb, epi, pad):
    """Leading dimensions: `none`, the matrix's own width (float4 groups wherever that is a
    multiple of 4); `aligned`, wider and a multiple of 4 (float4 groups, with a partial one
    at the edge when the width is not); `odd`, 3 wider (scalar loads and stores)."""
    rng = np.random.default_rng(M * 7 + N * 3 + K + ta * 2 + tb)
    a_rows, a_cols = (K, M) if ta else (M, K)
    b_rows, b_cols = (N, K) if tb else (K, N)
    ld = {"none": lambda w: w, "aligned": lambda w: (w + 4) // 4 * 4, "odd": lambda w: w + 3}[pad]
    lda, ldb, ldc = ld(a_cols), ld(b_cols), ld(N)
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


@pytest.mark.parametrize("M,N,K", [(70, 150, 33), (40, 32 * 4 + 1, 20)])
def test_grids_over_the_limit_go_in_several_launches(small_grid_harness, M, N, K):
    """Column tiles and matrices past the grid's y / z limit (here 2) go in further
    launches from their offsets: 5 matrices in 3 launches; 5 column tiles of 32 in 3
    (1,000-odd launches' worth of columns, 8.4 M, on a GPU without the define)."""
    rng = np.random.default_rng(6)
    batch = 5
    A = rng.standard_normal((batch, K, M)).astype(np.float32)
    B = rng.standard_normal((batch, N, K)).astype(np.float32)
    C = rng.standard_normal((batch, M, N)).astype(np.float32)
    want = np.stack([A[z].T.astype(np.float64) @ B[z].T + C[z] for z in range(batch)])
    out = C.copy()
    f = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    assert small_grid_harness.gemm_tile_shape(M, N, batch) == 32032
    assert small_grid_harness.run_gemm_batched(batch, M, N, K, f(A), K * M, f(B), N * K, f(out), M * N) == 0
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


# (M, N, K, work floats, slices): a conv kernel's gradient over a batch of pixels (9 x 64
# over 40000 rows: 64 slices of 32 x 32 tiles), W4's second conv at batch 32 (576 x 64 over
# 16928 pixels: 53 slices of 5 128 x 64 tiles) and at 16 (too short for that: 8 slices of
# 32 x 32 tiles), slices limited by the work space, a K that does not divide evenly, a
# mid-sized product (7 slices of 40 tiles), and a reduction too short to split
SPLITS = [(9, 64, 40000, 64 * 9 * 64, 64), (576, 64, 16928, 1 << 22, 53), (576, 64, 8464, 1 << 22, 8),
          (37, 50, 5003, 37 * 50 * 3, 3), (32, 128, 3200, 1 << 22, 12), (32, 64, 2000, 1 << 22, 1),
          (500, 600, 2100, 1 << 22, 7)]


def test_wide_products_are_not_split(harness):
    assert harness.gemm_split_slices(2000, 1200, 4096, 1 << 22) == 1   # 304 tiles: two waves already
    assert harness.gemm_split_slices(1000, 1200, 4096, 1 << 22) == 2


@pytest.mark.parametrize("M,N,K,work,slices", SPLITS)
def test_split_k_gemm_matches_numpy(harness, M, N, K, work, slices):
    assert harness.gemm_split_slices(M, N, K, work) == slices
    rng = np.random.default_rng(M + N + K)
    A = rng.standard_normal((K, M)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    ldc = N + 2
    C = rng.standard_normal((M, ldc)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    alpha, beta = 0.01, 0.5
    want = np.tanh(alpha * (A.T.astype(np.float64) @ B) + beta * C[:, :N] + bias)
    out = C.copy()
    f = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    assert harness.run_gemm_split(M, N, K, alpha, f(A), f(B), beta, f(out), ldc, f(bias), work) == 0
    np.testing.assert_allclose(out[:, :N], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(out[:, N:], C[:, N:])
