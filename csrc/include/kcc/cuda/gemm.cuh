// kcc/cuda/gemm.cuh: kcc's own single-precision GEMM for CUDA (no cuBLAS on our build
// machines), with the bias + activation epilogue fused into the store.
//
//   C = epi(alpha * op(A) op(B) + beta * C)      row-major, like kcc::gemm on the CPU
//
// op(A) is M x K (A is K x M when transposed), op(B) is K x N. Each block computes a
// BM x BN tile of C, stepping over K in BK-wide slices held in shared memory; each thread
// owns a TM x TN grid of outputs spread BM/TM rows and BN/TN columns apart, so a warp's
// shared-memory reads are broadcasts or consecutive words (no bank conflicts).
// Global loads are arranged so consecutive threads read consecutive addresses of
// whichever axis is contiguous in memory (coalesced in every transpose case).
#ifndef KCC_CUDA_GEMM_CUH
#define KCC_CUDA_GEMM_CUH

#include <stdint.h>
#include "kcc/cuda/launch.cuh"
#include "kcc/cuda/runtime.cuh"

namespace kcc {
namespace cuda {

// The plain store: no bias, no activation.
struct Identity {
    __device__ __forceinline__ float operator()(int64_t /*col*/, float v) const { return v; }
};

// act(v + bias[col]), the Dense / Conv epilogue (bias may be null).
template <class Act>
struct BiasAct {
    const float* bias;
    __device__ __forceinline__ float operator()(int64_t col, float v) const {
        return Act::f(bias ? v + bias[col] : v);
    }
};

#ifdef KCC_CUDA_EMULATE
// Host emulation (kcc/cuda/runtime.cuh): the same contract, as plain loops.
template <bool TA, bool TB, class Epi>
inline void gemm_launch(cudaStream_t, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                        const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB,
                        float beta, float* C, int64_t ldc, int64_t sC, Epi epi, int64_t k_split) {
    for (int64_t z = 0; z < batch; ++z) {
        const int64_t k_begin = k_split ? z * k_split : 0;
        const int64_t k_end = k_split && k_begin + k_split < K ? k_begin + k_split : K;
        const float* a = k_split ? A : A + z * sA;
        const float* b = k_split ? B : B + z * sB;
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                float acc = 0.0f;
                for (int64_t k = k_begin; k < k_end; ++k)
                    acc += (TA ? a[k * lda + m] : a[m * lda + k]) * (TB ? b[n * ldb + k] : b[k * ldb + n]);
                float* c = C + z * sC + m * ldc + n;
                float v = alpha * acc;
                if (beta != 0.0f) v += beta * *c;
                *c = epi(n, v);
            }
    }
}
#else
template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, class Epi>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_kernel(int64_t M, int64_t N, int64_t K, float alpha, const float* __restrict__ A, int64_t lda,
            int64_t sA, const float* __restrict__ B, int64_t ldb, int64_t sB, float beta, float* C,
            int64_t ldc, int64_t sC, Epi epi, int64_t k_split) {
    constexpr int TX = BN / TN, TY = BM / TM, NT = TX * TY;
    static_assert((BM * BK) % NT == 0 && (BK * BN) % NT == 0, "tile loads must divide evenly");
    __shared__ float As[BK][BM + 1];   // As[k][m] = op(A)[m][k]; +1 pads away bank conflicts
    __shared__ float Bs[BK][BN];       // Bs[k][n] = op(B)[k][n]

    // blockIdx.z: matrix z of each operand, sA/sB/sC floats apart; or, split over K
    // (k_split > 0), the same A and B over K slice z, into partial result z of C
    int64_t k_begin = 0;
    if (k_split) {
        k_begin = blockIdx.z * k_split;
        K = k_begin + k_split < K ? k_begin + k_split : K;
    } else {
        A += blockIdx.z * sA;
        B += blockIdx.z * sB;
    }
    C += blockIdx.z * sC;
    const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
    const int64_t m0 = (int64_t)blockIdx.y * BM, n0 = (int64_t)blockIdx.x * BN;
    float acc[TM][TN] = {};

    for (int64_t k0 = k_begin; k0 < K; k0 += BK) {
#pragma unroll
        for (int l = 0; l < (BM * BK) / NT; ++l) {
            const int idx = tid + l * NT;
            // A is M x K (k contiguous) or, transposed, K x M (m contiguous)
            const int kk = TA ? idx / BM : idx % BK, mm = TA ? idx % BM : idx / BK;
            const int64_t m = m0 + mm, k = k0 + kk;
            As[kk][mm] = (m < M && k < K) ? (TA ? A[k * lda + m] : A[m * lda + k]) : 0.0f;
        }
#pragma unroll
        for (int l = 0; l < (BK * BN) / NT; ++l) {
            const int idx = tid + l * NT;
            // B is K x N (n contiguous) or, transposed, N x K (k contiguous)
            const int kk = TB ? idx % BK : idx / BN, nn = TB ? idx / BK : idx % BN;
            const int64_t n = n0 + nn, k = k0 + kk;
            Bs[kk][nn] = (n < N && k < K) ? (TB ? B[n * ldb + k] : B[k * ldb + n]) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[kk][ty + i * TY];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tx + j * TX];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int64_t m = m0 + ty + i * TY;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int64_t n = n0 + tx + j * TX;
            if (n >= N) continue;
            float v = alpha * acc[i][j];
            if (beta != 0.0f) v += beta * C[m * ldc + n];
            C[m * ldc + n] = epi(n, v);
        }
    }
}

template <int BM, int BN, bool TA, bool TB, class Epi>
inline void gemm_tiles(cudaStream_t s, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB,
                       float beta, float* C, int64_t ldc, int64_t sC, Epi epi, int64_t k_split) {
    constexpr int BK = 16, TM = 4, TN = 4;
    const dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM), (unsigned)batch);
    gemm_kernel<BM, BN, BK, TM, TN, TA, TB, Epi><<<grid, (BM / TM) * (BN / TN), 0, s>>>(
        M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, epi, k_split);
}

// `batch` products in one launch (see gemm_batched; k_split: see gemm_kernel). The tile:
// 64 x 64 when that still gives every SM work, else 32 x 32 so small problems (a batch of
// 32 rows) spread over more blocks.
template <bool TA, bool TB, class Epi>
inline void gemm_launch(cudaStream_t s, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                        const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB,
                        float beta, float* C, int64_t ldc, int64_t sC, Epi epi, int64_t k_split) {
    const int64_t big_tiles = ((M + 63) / 64) * ((N + 63) / 64) * batch;
    if (big_tiles >= kSMs)
        gemm_tiles<64, 64, TA, TB>(s, batch, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, epi, k_split);
    else
        gemm_tiles<32, 32, TA, TB>(s, batch, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, epi, k_split);
}
#endif  // KCC_CUDA_EMULATE

// `batch` independent products C_z = epi(alpha op(A_z) op(B_z) + beta C_z), z < batch, with
// A_z = A + z sA (likewise B, C; a stride of 0 shares one operand): one launch for all.
template <bool TA, bool TB, class Epi = Identity>
inline void gemm_batched(cudaStream_t s, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB,
                         float beta, float* C, int64_t ldc, int64_t sC, Epi epi = Epi()) {
    if (M <= 0 || N <= 0 || batch <= 0) return;
    if (K <= 0) {   // C = epi(beta C): no product to add
        each(s, batch * M * N, [=] __device__(int64_t i) {
            const int64_t z = i / (M * N), m = i / N % M, n = i % N;
            float* c = C + z * sC + m * ldc + n;
            *c = epi(n, beta != 0.0f ? beta * *c : 0.0f);
        });
        return;
    }
    gemm_launch<TA, TB>(s, batch, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, epi, 0);
}

// C = epi(alpha op(A) op(B) + beta C), the CPU's kcc::gemm with the transposes as template
// arguments: a call site instantiates only the kernels it uses (each costs nvcc seconds).
template <bool TA, bool TB, class Epi = Identity>
inline void gemm(cudaStream_t s, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                 Epi epi = Epi()) {
    gemm_batched<TA, TB>(s, 1, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, epi);
}

// Split-K: a small C from a long reduction (a weight gradient summed over a batch of
// pixels or timesteps: a 576 x 64 conv kernel over 34K rows is 9 tiles, 9 busy SMs of 132)
// gets S slices of K computed side by side into S partial results in `work`, then summed
// in slice order (deterministic, no atomics). A template sizes `work` with split_k_floats.
// A template sizes `work` with kcc/codegen/env.py's split_k_work (at most 64 slices).
constexpr int64_t kMaxSplit = 64, kMinSliceK = 256;
// Below this K a tile's whole reduction takes a few microseconds: not worth the second
// launch that sums the slices (W1's 784-input Dense at batch 32).
constexpr int64_t kMinSplitK = 2048;

// Slices of K for gemm_split: enough 32 x 32 tiles for two waves of blocks, slices of at
// least kMinSliceK, partial results that fit in `work_floats`; 1 = do not split.
inline int64_t split_k_slices(int64_t M, int64_t N, int64_t K, int64_t work_floats) {
    if (K < kMinSplitK) return 1;
    const int64_t tiles = ((M + 31) / 32) * ((N + 31) / 32);
    int64_t slices = (2 * kSMs + tiles - 1) / tiles;
    if (slices > K / kMinSliceK) slices = K / kMinSliceK;
    if (slices > work_floats / (M * N)) slices = work_floats / (M * N);
    if (slices > kMaxSplit) slices = kMaxSplit;
    return slices < 2 ? 1 : slices;
}

template <bool TA, bool TB, class Epi = Identity>
inline void gemm_split(cudaStream_t s, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                       float* work, int64_t work_floats, Epi epi = Epi()) {
    int64_t slices = M > 0 && N > 0 ? split_k_slices(M, N, K, work_floats) : 1;
    if (slices == 1) {
        gemm<TA, TB>(s, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, epi);
        return;
    }
    const int64_t per = (K + slices - 1) / slices;
    slices = (K + per - 1) / per;   // no empty slice at the end
    gemm_launch<TA, TB>(s, slices, M, N, K, 1.0f, A, lda, 0, B, ldb, 0, 0.0f, work, N, M * N, Identity(), per);
    each(s, M * N, [=] __device__(int64_t i) {
        float acc = 0.0f;
        for (int64_t z = 0; z < slices; ++z) acc += work[z * M * N + i];
        float* c = C + i / N * ldc + i % N;
        float v = alpha * acc;
        if (beta != 0.0f) v += beta * *c;
        *c = epi(i % N, v);
    });
}

}  // namespace cuda
}  // namespace kcc

#endif  // KCC_CUDA_GEMM_CUH
