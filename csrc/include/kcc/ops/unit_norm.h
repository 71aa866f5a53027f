// kcc/ops/unit_norm.h: a row of d floats scaled by a function of its sum of squares, the
// math of UnitNormalization and RMSNormalization:
//
//   s = sum_j x_j^2
//   UnitNormalization (ops.normalize, order=2, epsilon=1e-12):  r = min(rsqrt(s), 1e12)
//   RMSNormalization (ops.rms_normalization):                   r = rsqrt(s / d + epsilon)
//   y_j = x_j r gamma_j                                          (gamma: RMSNormalization's
//                                                                 scale; null for Unit...)
//   backward, g_j = dy_j gamma_j, dr/ds = -k r^3 / 2 (k = 1, 1 / d, or 0 where the unit
//   norm's floor holds: s < 1e-24, a zero row, where r is a constant):
//   dx_j = r g_j - x_j k r^3 sum_i g_i x_i,   dgamma_j += dy_j x_j r
//
// Each step takes a Share of the row's columns, as kcc/ops/normalization.h: the CPU templates
// run the whole row, the CUDA ones a block per row whose threads fold their partial sums.
#ifndef KCC_OPS_UNIT_NORM_H
#define KCC_OPS_UNIT_NORM_H

#include <math.h>
#include "kcc/common.h"

namespace kcc {
namespace unit_norm {

constexpr float kMaxScale = 1e12f;     // UnitNormalization's 1 / epsilon

// The row's r and the k of its derivative.
struct Scale {
    float r, k;
};

// UnitNormalization's, from the whole row's s; a NaN s stays NaN (torch.minimum propagates it).
KCC_HD Scale unit(float s) {
    const float r = 1.0f / sqrtf(s);
    return r > kMaxScale ? Scale{kMaxScale, 0.0f} : Scale{r, 1.0f};
}

// RMSNormalization's.
KCC_HD Scale rms(float s, int64_t d, float eps) {
    return Scale{1.0f / sqrtf(s / (float)d + eps), 1.0f / (float)d};
}

// sum_j a_j b_j over the share's columns (s with a = b = x).
KCC_HD float dot(const float* a, const float* b, int64_t d, Share sh) {
    float acc = 0.0f;
    for (int64_t j = sh.first; j < d; j += sh.step) acc += a[j] * b[j];
    return acc;
}

// y = x r gamma over the share's columns (gamma null: 1).
KCC_HD void scale(float* y, const float* x, const float* gamma, Scale sc, int64_t d, Share sh) {
    for (int64_t j = sh.first; j < d; j += sh.step) y[j] = gamma ? x[j] * sc.r * gamma[j] : x[j] * sc.r;
}

// sum_j g_j x_j over the share's columns, and dgamma_j += dy_j x_j r there (dgamma null: not
// needed, or summed elsewhere).
KCC_HD float grad_dot(float* dgamma, const float* dy, const float* x, const float* gamma, Scale sc,
                      int64_t d, Share sh) {
    float acc = 0.0f;
    for (int64_t j = sh.first; j < d; j += sh.step) {
        acc += (gamma ? dy[j] * gamma[j] : dy[j]) * x[j];
        if (dgamma) dgamma[j] += dy[j] * x[j] * sc.r;
    }
    return acc;
}

// dx (=, or += when acc_dx) over the share's columns, from the whole row's sum g x.
KCC_HD void input_grad(float* dx, const float* dy, const float* x, const float* gamma, Scale sc,
                       float g_x, int64_t d, bool acc_dx, Share sh) {
    const float c = sc.k * sc.r * sc.r * sc.r * g_x;
    for (int64_t j = sh.first; j < d; j += sh.step) {
        const float g = sc.r * (gamma ? dy[j] * gamma[j] : dy[j]) - x[j] * c;
        dx[j] = acc_dx ? dx[j] + g : g;
    }
}

// The whole row, in column order (the CPU templates): eps < 0 selects UnitNormalization.
KCC_HD Scale scale_of(const float* x, int64_t d, float eps) {
    const float s = dot(x, x, d, Share{0, 1});
    return eps < 0.0f ? unit(s) : rms(s, d, eps);
}

KCC_HD void forward_row(float* y, const float* x, const float* gamma, int64_t d, float eps) {
    scale(y, x, gamma, scale_of(x, d, eps), d, Share{0, 1});
}

// dx null: not needed; dgamma null: absent, frozen or not needed.
KCC_HD void backward_row(float* dx, float* dgamma, const float* dy, const float* x, const float* gamma,
                         int64_t d, float eps, bool acc_dx) {
    const Scale sc = scale_of(x, d, eps);
    const float g_x = grad_dot(dgamma, dy, x, gamma, sc, d, Share{0, 1});
    if (dx) input_grad(dx, dy, x, gamma, sc, g_x, d, acc_dx, Share{0, 1});
}

}  // namespace unit_norm
}  // namespace kcc

#endif  // KCC_OPS_UNIT_NORM_H
