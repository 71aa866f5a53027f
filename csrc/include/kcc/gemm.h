// kcc/gemm.h: C = alpha * op(A) * op(B) + beta * C, row-major, float32.
//
// With KCC_USE_BLAS the call goes to the BLAS's cblas_sgemm: the standard name when
// KCC_BLAS_PREFIX is not defined or defined empty (an exported model's CMake build), or
// a prefixed one (KCC_BLAS_PREFIX=scipy_ for the scipy-openblas32 wheel kcc itself
// uses). Without it a portable blocked GEMM is used, so an exported model builds with
// nothing but a C++17 compiler. Either way, with AVX-512 a batch through a narrow Dense
// takes kcc/gemm_direct.h's kernel, which beats both there. We declare the one prototype we need instead of
// including cblas.h: the generated unit stays quick to compile and independent of which
// BLAS is installed.
#ifndef KCC_GEMM_H
#define KCC_GEMM_H

#include <stdint.h>
#include <string.h>
#include "kcc/common.h"
#include "kcc/gemm_direct.h"

#ifdef KCC_USE_BLAS
#ifndef KCC_BLAS_PREFIX
#define KCC_BLAS_PREFIX
#endif
#define KCC_CAT_(a, b) a##b
#define KCC_CAT(a, b) KCC_CAT_(a, b)
#define KCC_CBLAS_SGEMM KCC_CAT(KCC_BLAS_PREFIX, cblas_sgemm)
#define KCC_CBLAS_SGEMV KCC_CAT(KCC_BLAS_PREFIX, cblas_sgemv)
extern "C" void KCC_CBLAS_SGEMM(int order, int trans_a, int trans_b, int m, int n, int k,
                                float alpha, const float* a, int lda, const float* b, int ldb,
                                float beta, float* c, int ldc);
extern "C" void KCC_CBLAS_SGEMV(int order, int trans, int m, int n, float alpha, const float* a,
                                int lda, const float* x, int incx, float beta, float* y, int incy);
#endif

namespace kcc {

#ifndef KCC_USE_BLAS
// Portable fallback: a blocked GEMM in plain C++ that the compiler vectorizes.
//
// B is packed, one KC x NR panel at a time (zero-padded to NR columns), into a small
// buffer on the stack, so op(B) is read with unit stride whatever its transposition;
// then every MR-row strip of op(A) runs against the panel in a register tile of MR x NR
// accumulators. The panel (KC * NR floats, 8 or 16 KB) stays in L1 across the strips, and
// the KC columns of A a strip reads stay in L2 across panels. C is read only when
// beta != 0 (the arena may hold anything), and scaled once, on the first K block.
namespace gemm_detail {

// One SIMD register of floats (GCC/Clang vector extension): 8 with AVX, else 4 (SSE on
// x86-64, NEON on ARM). A tile is MR rows by two registers.
#if defined(__AVX__)
constexpr int64_t VW = 8;
#else
constexpr int64_t VW = 4;
#endif
typedef float vec __attribute__((vector_size(VW * 4), aligned(4), may_alias));
constexpr int64_t MR = 4, NR = 2 * VW, KC = 256;

// C[r, :nr] = keep * C[r, :nr] + alpha * sum over p < kc of A(r, p) * panel[p][:nr], for
// ROWS rows: ROWS x NR accumulators, kept in registers.
template <int64_t ROWS>
inline void tile(float* KCC_RESTRICT c, int64_t ldc, int64_t nr, const float* KCC_RESTRICT a,
                 int64_t a_row, int64_t a_col, const float* KCC_RESTRICT panel, int64_t kc,
                 float alpha, float keep) {
    vec acc[ROWS][2];
    for (int64_t r = 0; r < ROWS; ++r) acc[r][0] = acc[r][1] = vec{};
    for (int64_t p = 0; p < kc; ++p) {
        const vec b0 = *(const vec*)(panel + p * NR), b1 = *(const vec*)(panel + p * NR + VW);
        for (int64_t r = 0; r < ROWS; ++r) {
            const float arp = a[r * a_row + p * a_col];
            acc[r][0] += arp * b0;
            acc[r][1] += arp * b1;
        }
    }
    for (int64_t r = 0; r < ROWS; ++r) {
        float out[NR];
        *(vec*)out = acc[r][0];
        *(vec*)(out + VW) = acc[r][1];
        float* KCC_RESTRICT cr = c + r * ldc;
        if (keep == 0.0f) for (int64_t j = 0; j < nr; ++j) cr[j] = alpha * out[j];
        else if (keep == 1.0f) for (int64_t j = 0; j < nr; ++j) cr[j] += alpha * out[j];
        else for (int64_t j = 0; j < nr; ++j) cr[j] = keep * cr[j] + alpha * out[j];
    }
}

}  // namespace gemm_detail

inline void gemm_portable(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                          const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                          float* KCC_RESTRICT c, int64_t ldc) {
    using namespace gemm_detail;
    // Element strides of op(A) (m x k) and op(B) (k x n).
    const int64_t a_row = ta ? 1 : lda, a_col = ta ? lda : 1;
    const int64_t b_row = tb ? 1 : ldb, b_col = tb ? ldb : 1;
    if (k == 0) {   // C = beta * C
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    if (m < MR && !tb) {
        // A few rows (batch-1 inference): packing B would cost more than the product.
        // C[i, :] += alpha * A(i, p) * B[p, :] runs along B's contiguous rows instead.
        for (int64_t i = 0; i < m; ++i) {
            float* KCC_RESTRICT ci = c + i * ldc;
            if (beta == 0.0f) memset(ci, 0, sizeof(float) * n);
            else if (beta != 1.0f) for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
            for (int64_t p = 0; p < k; ++p) {
                const float aip = alpha * a[i * a_row + p * a_col];
                const float* KCC_RESTRICT bp = b + p * ldb;
                for (int64_t j = 0; j < n; ++j) ci[j] += aip * bp[j];
            }
        }
        return;
    }
    alignas(64) float panel[KC * NR];
    for (int64_t j0 = 0; j0 < n; j0 += NR) {
        const int64_t nr = n - j0 < NR ? n - j0 : NR;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            const int64_t kc = k - p0 < KC ? k - p0 : KC;
            for (int64_t p = 0; p < kc; ++p) {
                const float* bp = b + (p0 + p) * b_row + j0 * b_col;
                float* dst = panel + p * NR;
                int64_t j = 0;
                if (b_col == 1) for (; j < nr; ++j) dst[j] = bp[j];
                else for (; j < nr; ++j) dst[j] = bp[j * b_col];
                for (; j < NR; ++j) dst[j] = 0.0f;
            }
            const float keep = p0 == 0 ? beta : 1.0f;   // later K blocks add to C
            for (int64_t i0 = 0; i0 < m; i0 += MR) {
                const float* ai = a + i0 * a_row + p0 * a_col;
                float* ci = c + i0 * ldc + j0;
                switch (m - i0 < MR ? m - i0 : MR) {
                    case 4: tile<4>(ci, ldc, nr, ai, a_row, a_col, panel, kc, alpha, keep); break;
                    case 3: tile<3>(ci, ldc, nr, ai, a_row, a_col, panel, kc, alpha, keep); break;
                    case 2: tile<2>(ci, ldc, nr, ai, a_row, a_col, panel, kc, alpha, keep); break;
                    default: tile<1>(ci, ldc, nr, ai, a_row, a_col, panel, kc, alpha, keep); break;
                }
            }
        }
    }
}
#endif

inline void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                 float* c, int64_t ldc) {
    if (m == 0 || n == 0) return;
#ifdef KCC_GEMM_DIRECT
    if (gemm_direct::takes(trans_a, trans_b, m, n, k)) {   // a batch through a narrow Dense
        gemm_direct::gemm(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#endif
#ifdef KCC_USE_BLAS
    if (m == 1 && k * n >= (int64_t)1 << 20) {
        // One row times a big matrix (a batch-1 Dense of 4 MB of weights or more): a
        // matrix-vector product. OpenBLAS's sgemv threads and streams B at memory speed; its
        // sgemm with m = 1 ran single-threaded (VQA's 160256 x 1000 Dense: 41 ms against 25 ms
        // on both cores). Small ones stay in sgemm: waking gemv's threads cost more than the
        // product (W1's 784 x 64: 1.7 -> 3.8 us). c = alpha op(B)^T a + beta c, a's k values
        // lda apart when transposed.
        KCC_CBLAS_SGEMV(101 /*RowMajor*/, trans_b ? 111 : 112, trans_b ? (int)n : (int)k,
                        trans_b ? (int)k : (int)n, alpha, b, (int)ldb, a, trans_a ? (int)lda : 1,
                        beta, c, 1);
        return;
    }
    KCC_CBLAS_SGEMM(101 /*RowMajor*/, trans_a ? 112 : 111, trans_b ? 112 : 111, (int)m, (int)n,
                    (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
#else
    gemm_portable(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace kcc

#endif  // KCC_GEMM_H
