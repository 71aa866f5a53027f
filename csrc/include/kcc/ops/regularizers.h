// kcc/ops/regularizers.h: Keras's L1L2 weight penalty, one element at a time.
// penalty = l1 |w| + l2 w^2, summed over the weight and added to the training loss;
// its gradient l1 sign(w) + 2 l2 w joins the weight's gradient (sign(0) = 0, as the
// gradient of |w| that torch and Keras take at 0).
#ifndef KCC_OPS_REGULARIZERS_H
#define KCC_OPS_REGULARIZERS_H

#include <math.h>
#include "kcc/common.h"

namespace kcc {
namespace reg {

KCC_HD float penalty(float w, float l1, float l2) { return l1 * fabsf(w) + l2 * w * w; }

KCC_HD float grad(float w, float l1, float l2) {
    const float sign = w > 0.0f ? 1.0f : (w < 0.0f ? -1.0f : 0.0f);
    return l1 * sign + 2.0f * l2 * w;
}

// Elements [lo, hi) of one weight, thread `t` of `threads` taking every threads-th one:
// adds share * gradient to dw and returns the penalty of the elements it visited.
KCC_HD double apply(const float* w, float* dw, int64_t size, int64_t t, int64_t threads,
                    float l1, float l2, float share) {
    double sum = 0.0;
    for (int64_t i = t; i < size; i += threads) {
        sum += (double)penalty(w[i], l1, l2);
        if (dw) dw[i] += share * grad(w[i], l1, l2);
    }
    return sum;
}

}  // namespace reg
}  // namespace kcc

#endif  // KCC_OPS_REGULARIZERS_H
