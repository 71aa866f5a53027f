// kcc/ops/embedding.h: the gather and scatter-add of an embedding table.
//
//   forward:  y[i, :] = W[ids[i], :]                 (n ids, rows of width d)
//   backward: dW[ids[i], :] += dy[i, :]              (repeated ids add up)
//
// Ids are trusted here: the engine checked them against the table size in Python
// (kcc/runtime/data.py) before any native code ran.
#ifndef KCC_OPS_EMBEDDING_H
#define KCC_OPS_EMBEDDING_H

#include <stdint.h>
#include <string.h>
#include "kcc/common.h"

namespace kcc {
namespace embedding {

inline void gather(float* KCC_RESTRICT y, const int32_t* KCC_RESTRICT ids,
                   const float* KCC_RESTRICT W, int64_t n, int64_t d) {
    for (int64_t i = 0; i < n; ++i) memcpy(y + i * d, W + (int64_t)ids[i] * d, sizeof(float) * d);
}

// dW (rows x d) += the rows of dy at their ids; dW is zeroed first unless `accumulate`.
inline void scatter_add(float* KCC_RESTRICT dW, const int32_t* KCC_RESTRICT ids,
                        const float* KCC_RESTRICT dy, int64_t n, int64_t rows, int64_t d,
                        bool accumulate) {
    if (!accumulate) memset(dW, 0, sizeof(float) * rows * d);
    for (int64_t i = 0; i < n; ++i) {
        float* KCC_RESTRICT dst = dW + (int64_t)ids[i] * d;
        const float* KCC_RESTRICT src = dy + i * d;
        for (int64_t j = 0; j < d; ++j) dst[j] += src[j];
    }
}

// Column j of table rows [lo, hi) of scatter_add, as one GPU thread computes it: the rows
// of dy whose ids fall in that range, added in position order. That is scatter_add's order,
// so the sums are bitwise the CPU's (one thread) and never depend on thread timing, as
// atomics' would; each element of dW has one owner.
KCC_HD void scatter_add_column(float* KCC_RESTRICT dW, const int32_t* KCC_RESTRICT ids,
                               const float* KCC_RESTRICT dy, int64_t n, int64_t d, int64_t j,
                               int64_t lo, int64_t hi) {
    for (int64_t i = 0; i < n; ++i) {
        const int64_t v = ids[i];
        if (v >= lo && v < hi) dW[v * d + j] += dy[i * d + j];
    }
}

}  // namespace embedding
}  // namespace kcc

#endif  // KCC_OPS_EMBEDDING_H
