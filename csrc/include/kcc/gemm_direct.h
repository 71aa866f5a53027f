// kcc/gemm_direct.h: C = alpha * A B + beta * C for a narrow B, without packing A.
//
// A Dense's forward over a batch is C (m x n) = X (m x k) W (k x n) with m the batch and n
// the layer's units, often few (the guide's MLP: 64, 64 and 10). A BLAS packs both
// operands before its kernel runs; here the big one is X, and packing it cost a fifth of
// the product. This kernel reads A's rows where they lie and B's rows as vectors, as
// ONNX Runtime's MLAS does for this shape: a tile of 6 rows by 4 vectors of 16 columns
// keeps 24 accumulators in registers, and each step p of the reduction loads the 4
// vectors of B's row p and broadcasts 6 values of A into them.
//
// Measured single-threaded (CPU time, best of 7) on the 2-core AVX-512 Xeon against the
// scipy-openblas sgemm kcc links, m x n x k in ms:
//   512 x 64 x 784 (W1's first layer, half a 1024 batch)   0.390 -> 0.314
//   512 x 64 x 64  (its second)                            0.031 -> 0.024
//   16 x 64 x 784  (the first, half a training batch)      0.0119 -> 0.0104
//   2048 x 32 x 2048                                       2.82 -> 2.29
// about even at 512 x 128 x 784 and slower for a ragged B (512 x 40 x 784: 0.285 against
// 0.294), hence takes(). AVX-512 only: its 32 registers hold the 24 accumulators; an
// AVX2 build (16 registers, a 6 x 2 tile) measured even with OpenBLAS's Haswell kernels.
#ifndef KCC_GEMM_DIRECT_H
#define KCC_GEMM_DIRECT_H

#include <stdint.h>
#include "kcc/common.h"

// (-DKCC_NO_GEMM_DIRECT, e.g. CXX="g++ -DKCC_NO_GEMM_DIRECT", turns it off to compare.)
#if defined(__AVX512F__) && !defined(KCC_NO_GEMM_DIRECT)
#define KCC_GEMM_DIRECT 1

namespace kcc {
namespace gemm_direct {

constexpr int64_t W = 16;         // floats per vector register
typedef float vec __attribute__((vector_size(W * 4), aligned(4), may_alias));

constexpr int64_t MR = 6;         // rows of a tile
constexpr int64_t NV = 4;         // vectors of columns of a tile: 24 accumulators of 32 registers
constexpr int64_t NR = NV * W;    // columns of a tile: B's widest
constexpr int64_t KC = 512;       // reduction steps per block: a block of B (KC x NR) stays in L2

// Whether gemm() should take this product here: row-major, untransposed, B one tile wide
// at most and a whole number of vectors (a narrower or ragged B, 10 classes or 40 units,
// leaves accumulators idle: measured no faster than the BLAS), and enough rows to fill a
// tile (a batch-1 call stays on its matrix-vector path). An empty reduction (k == 0,
// C = beta C) is left to the BLAS or the portable GEMM, which handle it.
inline bool takes(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k) {
    return !trans_a && !trans_b && m >= MR && n <= NR && n % W == 0 && n > 0 && k > 0;
}

// C[:ROWS, :V*W] = keep * C + alpha * A[:ROWS, :kc] B[:kc, :V*W], B's rows ldb apart.
template <int64_t ROWS, int64_t V>
inline void tile(float* KCC_RESTRICT c, int64_t ldc, const float* KCC_RESTRICT a, int64_t lda,
                 const float* KCC_RESTRICT b, int64_t ldb, int64_t kc, float alpha, float keep) {
    vec acc[ROWS][V];
    for (int64_t r = 0; r < ROWS; ++r)
        for (int64_t v = 0; v < V; ++v) acc[r][v] = vec{};
    for (int64_t p = 0; p < kc; ++p) {
        vec bp[V];
        for (int64_t v = 0; v < V; ++v) bp[v] = *(const vec*)(b + p * ldb + v * W);
        for (int64_t r = 0; r < ROWS; ++r) {
            const float arp = a[r * lda + p];
            for (int64_t v = 0; v < V; ++v) acc[r][v] += arp * bp[v];
        }
    }
    for (int64_t r = 0; r < ROWS; ++r)
        for (int64_t v = 0; v < V; ++v) {
            vec* cv = (vec*)(c + r * ldc + v * W);
            const vec out = acc[r][v] * alpha;
            if (keep == 0.0f) *cv = out;            // C is not read: the arena may hold NaN
            else if (keep == 1.0f) *cv += out;
            else *cv = keep * *cv + out;
        }
}

// Every row tile of A over one block of the reduction, B V vectors wide.
template <int64_t V>
inline void rows(int64_t m, int64_t kc, float alpha, const float* a, int64_t lda, const float* b,
                 int64_t ldb, float keep, float* c, int64_t ldc) {
    int64_t i = 0;
    for (; i + MR <= m; i += MR) tile<MR, V>(c + i * ldc, ldc, a + i * lda, lda, b, ldb, kc, alpha, keep);
    float* ci = c + i * ldc;
    const float* ai = a + i * lda;
    switch (m - i) {
        case 5: tile<5, V>(ci, ldc, ai, lda, b, ldb, kc, alpha, keep); break;
        case 4: tile<4, V>(ci, ldc, ai, lda, b, ldb, kc, alpha, keep); break;
        case 3: tile<3, V>(ci, ldc, ai, lda, b, ldb, kc, alpha, keep); break;
        case 2: tile<2, V>(ci, ldc, ai, lda, b, ldb, kc, alpha, keep); break;
        case 1: tile<1, V>(ci, ldc, ai, lda, b, ldb, kc, alpha, keep); break;
        default: break;
    }
}

// C (m x n) = alpha * A (m x k) B (k x n) + beta * C, all row-major, for a product
// takes() accepts. C is read only when beta != 0.
inline void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
        const int64_t kc = k - p0 < KC ? k - p0 : KC;
        const float keep = p0 == 0 ? beta : 1.0f;   // later blocks add to C
        const float* ap = a + p0;
        const float* bp = b + p0 * ldb;
        switch (n / W) {
            case 4: rows<4>(m, kc, alpha, ap, lda, bp, ldb, keep, c, ldc); break;
            case 3: rows<3>(m, kc, alpha, ap, lda, bp, ldb, keep, c, ldc); break;
            case 2: rows<2>(m, kc, alpha, ap, lda, bp, ldb, keep, c, ldc); break;
            default: rows<1>(m, kc, alpha, ap, lda, bp, ldb, keep, c, ldc); break;
        }
    }
}

}  // namespace gemm_direct
}  // namespace kcc

#endif  // __AVX512F__ && !KCC_NO_GEMM_DIRECT
#endif  // KCC_GEMM_DIRECT_H
