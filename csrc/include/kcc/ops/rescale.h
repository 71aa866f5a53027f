// kcc/ops/rescale.h: the preprocessing layers' element-wise maps, y = f(x) with constants per
// element of some axes (kcc/templates/layers/rescale.*.j2 find each element's constants).
//
//   Rescaling:              y = x scale + offset
//   Normalization:          y = (x - mean) / max(sqrt(variance), epsilon)
//   Normalization(invert):  y = mean + x max(sqrt(variance), epsilon)
//
// written in Keras 3's order of float operations (sqrt, then the max, then one divide or
// multiply), so the values agree with Keras's to the last bit.
#ifndef KCC_OPS_RESCALE_H
#define KCC_OPS_RESCALE_H

#include <math.h>
#include "kcc/common.h"

namespace kcc {
namespace rescale {

// keras.backend.epsilon(), Normalization's floor on the standard deviation
constexpr float kEpsilon = 1e-7f;

// max(sqrt(variance), epsilon); a NaN variance stays NaN, as torch.maximum propagates it
KCC_HD float stddev(float variance) {
    const float s = sqrtf(variance);
    return s < kEpsilon ? kEpsilon : s;
}

KCC_HD float normalize(float x, float mean, float variance) { return (x - mean) / stddev(variance); }
KCC_HD float denormalize(float x, float mean, float variance) { return mean + x * stddev(variance); }

// dy/dx of each map: dx = dy / stddev, dy * stddev, dy * scale
KCC_HD float normalize_dx(float dy, float variance) { return dy / stddev(variance); }
KCC_HD float denormalize_dx(float dy, float variance) { return dy * stddev(variance); }

}  // namespace rescale
}  // namespace kcc

#endif  // KCC_OPS_RESCALE_H
