// kcc/ops/unit_norm.h: UnitNormalization of one row of d floats, as Keras 3's
// ops.normalize(x, order=2, epsilon=1e-12):
//
//   s = sum_j x_j^2,  r = min(rsqrt(s), 1 / epsilon),  y_j = x_j r
//
//   backward: where r is rsqrt(s), dx_j = r (dy_j - x_j r^2 sum_k dy_k x_k); where the
//   floor holds (s < 1e-24: a zero row), r is a constant and dx_j = r dy_j.
//
// Each step takes a Share of the row's columns, as kcc/ops/normalization.h: the CPU template
// runs the whole row, the CUDA one a block per row whose threads fold their partial sums.
#ifndef KCC_OPS_UNIT_NORM_H
#define KCC_OPS_UNIT_NORM_H

#include <math.h>
#include "kcc/common.h"

namespace kcc {
namespace unit_norm {

constexpr float kMaxScale = 1e12f;     // 1 / epsilon

// sum_j a_j b_j over the share's columns (s with a = b = x, the gradient's with a = dy).
KCC_HD float dot(const float* a, const float* b, int64_t d, Share s) {
    float acc = 0.0f;
    for (int64_t j = s.first; j < d; j += s.step) acc += a[j] * b[j];
    return acc;
}

// r from the whole row's s; a NaN s stays NaN (torch.minimum propagates it).
KCC_HD float scale_of(float s) {
    const float r = 1.0f / sqrtf(s);
    return r > kMaxScale ? kMaxScale : r;
}

// y = x r over the share's columns.
KCC_HD void scale(float* y, const float* x, float r, int64_t d, Share s) {
    for (int64_t j = s.first; j < d; j += s.step) y[j] = x[j] * r;
}

// dx (=, or += when acc_dx) over the share's columns, from the whole row's s and dy.x.
KCC_HD void input_grad(float* dx, const float* dy, const float* x, float sum_sq, float dy_x,
                       int64_t d, bool acc_dx, Share s) {
    const float r = scale_of(sum_sq);
    const float c = r == kMaxScale ? 0.0f : r * r * dy_x;     // the floor is a constant
    for (int64_t j = s.first; j < d; j += s.step) {
        const float g = r * (dy[j] - x[j] * c);
        dx[j] = acc_dx ? dx[j] + g : g;
    }
}

// The whole row, in column order (the CPU template).
KCC_HD void forward_row(float* y, const float* x, int64_t d) {
    const Share all{0, 1};
    scale(y, x, scale_of(dot(x, x, d, all)), d, all);
}

KCC_HD void backward_row(float* dx, const float* dy, const float* x, int64_t d, bool acc_dx) {
    const Share all{0, 1};
    input_grad(dx, dy, x, dot(x, x, d, all), dot(dy, x, d, all), d, acc_dx, all);
}

}  // namespace unit_norm
}  // namespace kcc

#endif  // KCC_OPS_UNIT_NORM_H
