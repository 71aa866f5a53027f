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
template <bool TA, bool TB, class Epi = Identity>
inline void gemm_batched(cudaStream_t, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB,
                         float beta, float* C, int64_t ldc, int64_t sC, Epi epi = Epi()) {
    for (int64_t z = 0; z < batch; ++z)
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                float acc = 0.0f;
                for (int64_t k = 0; k < K; ++k)
                    acc += (TA ? A[z * sA + k * lda + m] : A[z * sA + m * lda + k]) *
                           (TB ? B[z * sB + n * ldb + k] : B[z * sB + k * ldb + n]);
                float* c = C + z * sC + m * ldc + n;
                float v = alpha * acc;
                if (beta != 0.0f) v += beta * *c;
                *c = epi(n, v);
            }
}
#else
template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB, class Epi>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_kernel(int64_t M, int64_t N, int64_t K, float alpha, const float* __restrict__ A, int64_t lda,
            int64_t sA, const float* __restrict__ B, int64_t ldb, int64_t sB, float beta, float* C,
            int64_t ldc, int64_t sC, Epi epi) {
    constexpr int TX = BN / TN, TY = BM / TM, NT = TX * TY;
    static_assert((BM * BK) % NT == 0 && (BK * BN) % NT == 0, "tile loads must divide evenly");
    __shared__ float As[BK][BM + 1];   // As[k][m] = op(A)[m][k]; +1 pads away bank conflicts
    __shared__ float Bs[BK][BN];       // Bs[k][n] = op(B)[k][n]

    A += blockIdx.z * sA;   // batched: matrix z of each operand, sA/sB/sC floats apart
    B += blockIdx.z * sB;
    C += blockIdx.z * sC;
    const int tid = threadIdx.x, tx = tid % TX, ty = tid / TX;
    const int64_t m0 = (int64_t)blockIdx.y * BM, n0 = (int64_t)blockIdx.x * BN;
    float acc[TM][TN] = {};

    for (int64_t k0 = 0; k0 < K; k0 += BK) {
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
                       float beta, float* C, int64_t ldc, int64_t sC, Epi epi) {
    constexpr int BK = 16, TM = 4, TN = 4;
    const dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM), (unsigned)batch);
    gemm_kernel<BM, BN, BK, TM, TN, TA, TB, Epi><<<grid, (BM / TM) * (BN / TN), 0, s>>>(
        M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, epi);
}

// `batch` independent products C_z = epi(alpha op(A_z) op(B_z) + beta C_z), z < batch, with
// A_z = A + z sA (likewise B, C; a stride of 0 shares one operand): one launch for all.
// The tile: 64 x 64 when that still gives every SM work, else 32 x 32 so small problems
// (a batch of 32 rows) spread over more blocks.
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
    const int64_t big_tiles = ((M + 63) / 64) * ((N + 63) / 64) * batch;
    if (big_tiles >= 132)
        gemm_tiles<64, 64, TA, TB>(s, batch, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, epi);
    else
        gemm_tiles<32, 32, TA, TB>(s, batch, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, epi);
}

#endif  // KCC_CUDA_EMULATE

// C = epi(alpha op(A) op(B) + beta C), the CPU's kcc::gemm with the transposes as template
// arguments: a call site instantiates only the kernels it uses (each costs nvcc seconds).
template <bool TA, bool TB, class Epi = Identity>
inline void gemm(cudaStream_t s, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                 Epi epi = Epi()) {
    gemm_batched<TA, TB>(s, 1, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, epi);
}

}  // namespace cuda
}  // namespace kcc

#endif  // KCC_CUDA_GEMM_CUH
