// The portable GEMM of kcc/gemm.h (built without KCC_USE_BLAS) against a double-precision
// reference, over every transposition, edge sizes around its MR x NR tiles and KC blocks,
// padded leading dimensions, and alpha/beta; built with AVX-512, the untransposed products
// of 16 to 64 columns run kcc/gemm_direct.h's kernel instead, and the sizes cover its
// 6-row tiles, every width it takes and its K blocks too. C starts as NaN when beta == 0:
// it must not be read. Prints the worst relative error and whether the direct kernel was
// built; exits 1 on any mismatch.
#include <math.h>
#include <stdio.h>

#include <vector>

#include "kcc/gemm.h"

int main() {
    const int64_t ms[] = {1, 2, 3, 4, 5, 6, 9, 13, 33}, ns[] = {1, 7, 8, 16, 17, 32, 40, 48, 64},
                  ks[] = {0, 1, 3, 255, 257, 600, 1100};
    const float alphas[] = {1.0f, 0.5f}, betas[] = {0.0f, 1.0f, -0.75f};
    unsigned seed = 1;
    auto rnd = [&] { seed = seed * 1664525u + 1013904223u; return (float)((seed >> 8) & 0xFFFF) / 32768.0f - 1.0f; };
    double worst = 0;
    int bad = 0, cases = 0;
    for (int64_t m : ms) for (int64_t n : ns) for (int64_t k : ks) for (int t = 0; t < 4; ++t)
    for (float alpha : alphas) for (float beta : betas) {
        const bool ta = t & 1, tb = t & 2;
        const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
        std::vector<float> a((size_t)((ta ? k : m) * lda + 1)), b((size_t)((tb ? n : k) * ldb + 1));
        std::vector<float> c((size_t)(m * ldc)), c0;
        for (float& x : a) x = rnd();
        for (float& x : b) x = rnd();
        for (float& x : c) x = beta == 0.0f ? NAN : rnd();
        c0 = c;
        kcc::gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
        ++cases;
        for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
                double want = 0, scale = 0;
                for (int64_t p = 0; p < k; ++p) {
                    const double x = ta ? a[p * lda + i] : a[i * lda + p], y = tb ? b[j * ldb + p] : b[p * ldb + j];
                    want += x * y;
                    scale += fabs(x * y);
                }
                want *= alpha;
                if (beta != 0.0f) want += beta * (double)c0[i * ldc + j];
                const double err = fabs(c[i * ldc + j] - want) / (1.0 + scale);
                if (!(err <= 1e-5)) {
                    if (bad++ < 5)
                        printf("mismatch ta=%d tb=%d m=%lld n=%lld k=%lld alpha=%g beta=%g at (%lld, %lld): %g vs %g\n",
                               ta, tb, (long long)m, (long long)n, (long long)k, alpha, beta, (long long)i,
                               (long long)j, c[i * ldc + j], want);
                } else if (err > worst) {
                    worst = err;
                }
            }
            for (int64_t j = n; j < ldc; ++j)   // the padding between rows is never written
                if (!(c[i * ldc + j] == c0[i * ldc + j] || (isnan(c[i * ldc + j]) && isnan(c0[i * ldc + j])))) ++bad;
        }
    }
#ifdef KCC_GEMM_DIRECT
    printf("direct kernel: built\n");
#else
    printf("direct kernel: not built\n");
#endif
    printf("%d cases, worst relative error %.3g, %d mismatches\n", cases, worst, bad);
    return bad ? 1 : 0;
}
