// kcc/ops/mask.h: Keras masks as floats, 1 for a kept timestep and 0 for a masked one
// (kcc/frontend/mask.py says which layer makes which).
//
//   not_equal      m = x != v                      Embedding(mask_zero=True): ids != 0
//   any_not_equal  m = any over F features x != v  Masking(mask_value=v), per step
//   or             m = a || b                      the element-wise merges
//   masking:       y = x m (each step's F features), dx = dy m; the mask takes no gradient
//   kept           sum m over T steps: the kept steps a masked loss or average divides by
//   masked_mean    GlobalAveragePooling1D with a mask: y[c] = sum_t x[t, c] m[t] / kept
//                  (0 / 0 when none is kept, as Keras), dx[t, c] = dy[c] m[t] / kept
#ifndef KCC_OPS_MASK_H
#define KCC_OPS_MASK_H

#include <stdint.h>
#include "kcc/common.h"

namespace kcc {
namespace mask {

template <class T>
KCC_HD float not_equal(T x, float v) { return (float)x != v ? 1.0f : 0.0f; }

KCC_HD float any_not_equal(const float* x, int64_t F, float v) {
    for (int64_t f = 0; f < F; ++f)
        if (x[f] != v) return 1.0f;
    return 0.0f;
}

KCC_HD float either(float a, float b) { return (a != 0.0f || b != 0.0f) ? 1.0f : 0.0f; }

KCC_HD float kept(const float* m, int64_t T) {
    float k = 0.0f;
    for (int64_t t = 0; t < T; ++t) k += m[t];
    return k;
}

// channel c of one sample's (T, C) x over its kept steps (Keras: where(m, x, 0) m, summed)
KCC_HD float masked_mean(const float* x, const float* m, int64_t T, int64_t C, int64_t c) {
    float s = 0.0f;
    for (int64_t t = 0; t < T; ++t) s += (m[t] != 0.0f ? x[t * C + c] : 0.0f) * m[t];
    return s / kept(m, T);
}

}  // namespace mask
}  // namespace kcc

#endif  // KCC_OPS_MASK_H
