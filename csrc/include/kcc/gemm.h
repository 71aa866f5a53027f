// kcc/gemm.h: C = alpha * op(A) * op(B) + beta * C, row-major, float32.
//
// With KCC_USE_BLAS the call goes to the BLAS's cblas_sgemm (optionally with a symbol
// prefix, e.g. KCC_BLAS_PREFIX=scipy_ for the scipy-openblas32 wheel). Without it a
// portable blocked loop is used, so an exported model builds with nothing but a C++17
// compiler. We declare the one prototype we need instead of including cblas.h: the
// generated unit stays quick to compile and independent of which BLAS is installed.
#ifndef KCC_GEMM_H
#define KCC_GEMM_H

#include <stdint.h>
#include <string.h>
#include "kcc/common.h"

#ifdef KCC_USE_BLAS
#ifndef KCC_BLAS_PREFIX
#define KCC_BLAS_PREFIX
#endif
#define KCC_CAT_(a, b) a##b
#define KCC_CAT(a, b) KCC_CAT_(a, b)
#define KCC_CBLAS_SGEMM KCC_CAT(KCC_BLAS_PREFIX, cblas_sgemm)
extern "C" void KCC_CBLAS_SGEMM(int order, int trans_a, int trans_b, int m, int n, int k,
                                float alpha, const float* a, int lda, const float* b, int ldb,
                                float beta, float* c, int ldc);
#endif

namespace kcc {

#ifndef KCC_USE_BLAS
// Portable fallback: C[i, :] += a_ip * B[p, :] runs along contiguous rows so the compiler
// vectorizes the inner loop; blocking over p keeps a panel of B in cache.
inline void gemm_portable(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                          const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                          float* KCC_RESTRICT c, int64_t ldc) {
    for (int64_t i = 0; i < m; ++i) {
        float* ci = c + i * ldc;
        if (beta == 0.0f) memset(ci, 0, sizeof(float) * n);
        else if (beta != 1.0f) for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
    }
    const int64_t KB = 256;
    for (int64_t p0 = 0; p0 < k; p0 += KB) {
        const int64_t p1 = p0 + KB < k ? p0 + KB : k;
        for (int64_t i = 0; i < m; ++i) {
            float* KCC_RESTRICT ci = c + i * ldc;
            for (int64_t p = p0; p < p1; ++p) {
                const float aip = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
                if (aip == 0.0f) continue;
                if (!tb) {
                    const float* KCC_RESTRICT bp = b + p * ldb;
                    for (int64_t j = 0; j < n; ++j) ci[j] += aip * bp[j];
                } else {
                    for (int64_t j = 0; j < n; ++j) ci[j] += aip * b[j * ldb + p];
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
#ifdef KCC_USE_BLAS
    KCC_CBLAS_SGEMM(101 /*RowMajor*/, trans_a ? 112 : 111, trans_b ? 112 : 111, (int)m, (int)n,
                    (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
#else
    gemm_portable(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace kcc

#endif  // KCC_GEMM_H
