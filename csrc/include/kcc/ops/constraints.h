// kcc/ops/constraints.h: Keras's weight constraints, applied after each optimizer update.
// A norm constraint views the weight as (outer, reduce, inner) and rescales each group
// (a, c) = {w[(a * reduce + r) * inner + c] : r < reduce}: with norm = sqrt(sum w^2),
//   desired = rate * clip(norm, lo, hi) + (1 - rate) * norm,  w *= desired / (eps + norm)
// (MaxNorm: lo 0, hi max_value, rate 1; UnitNorm: lo = hi = 1; MinMaxNorm as given).
#ifndef KCC_OPS_CONSTRAINTS_H
#define KCC_OPS_CONSTRAINTS_H

#include <math.h>
#include "kcc/common.h"

namespace kcc {
namespace constraint {

constexpr float kEpsilon = 1e-7f;     // keras.backend.epsilon()

KCC_HD float norm_scale(float norm, float lo, float hi, float rate) {
    const float clipped = fminf(fmaxf(norm, lo), hi);
    const float desired = rate * clipped + (1.0f - rate) * norm;
    return desired / (kEpsilon + norm);
}

// Group g of outer * inner (g = a * inner + c).
KCC_HD void norm_group(float* w, int64_t g, int64_t reduce, int64_t inner, float lo, float hi,
                       float rate) {
    float* const base = w + (g / inner) * reduce * inner + g % inner;
    float ss = 0.0f;
    for (int64_t r = 0; r < reduce; ++r) ss += base[r * inner] * base[r * inner];
    const float scale = norm_scale(sqrtf(ss), lo, hi, rate);
    for (int64_t r = 0; r < reduce; ++r) base[r * inner] *= scale;
}

KCC_HD void non_neg(float& w) { w = fmaxf(w, 0.0f); }

}  // namespace constraint
}  // namespace kcc

#endif  // KCC_OPS_CONSTRAINTS_H
