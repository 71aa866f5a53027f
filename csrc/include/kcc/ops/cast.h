// kcc/ops/cast.h: int32 values read as float32, for a float layer that computes on ids
// (Keras casts them the same way: the nearest float, exact up to 2^24).
//
//   forward:  y[i] = (float)x[i]
//   backward: none; ids carry no gradient
#ifndef KCC_OPS_CAST_H
#define KCC_OPS_CAST_H

#include <stdint.h>
#include "kcc/common.h"

namespace kcc {
namespace cast {

KCC_HD float to_float(int32_t x) { return (float)x; }

inline void to_float(float* KCC_RESTRICT y, const int32_t* KCC_RESTRICT x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = to_float(x[i]);
}

}  // namespace cast
}  // namespace kcc

#endif  // KCC_OPS_CAST_H
