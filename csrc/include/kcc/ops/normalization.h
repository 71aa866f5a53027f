// kcc/ops/normalization.h: LayerNormalization of one row of d floats, forward and backward.
//
//   mean = sum_j x_j / d,  var = sum_j (x_j - mean)^2 / d (biased),  r = 1 / sqrt(var + eps)
//   u_j  = (x_j - mean) r          (rms: u_j = x_j r, the row is scaled, not centered:
//                                    Keras 3's deprecated rms_scaling, which uses the variance)
//   y_j  = u_j gamma_j + beta_j    (gamma, beta may be null: scale=False, center=False)
//
//   backward, g_j = dy_j gamma_j:
//   dx_j     = r (g_j - mean_k g_k - u_j mean_k g_k u_k)
//   (rms)    = r (g_j - (x_j - mean) r mean_k g_k u_k)
//   dgamma_j += dy_j u_j,  dbeta_j += dy_j        (summed over every row by the caller)
//
// The row statistics are recomputed from x in the backward: two floats a row are cheaper
// to recompute than to plan, save and read back. Host and device share these functions:
// the CPU template calls them row after row, the CUDA one a thread per row.
#ifndef KCC_OPS_NORMALIZATION_H
#define KCC_OPS_NORMALIZATION_H

#include <math.h>
#include <stdint.h>
#include "kcc/common.h"

namespace kcc {
namespace norm {

struct Moments {
    float mean, rstd;
};

// Two passes (mean, then the squared deviations): no cancellation when |mean| >> std.
KCC_HD Moments moments(const float* x, int64_t d, float eps) {
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += x[j];
    const float mean = s / (float)d;
    float v = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        const float t = x[j] - mean;
        v += t * t;
    }
    return {mean, 1.0f / sqrtf(v / (float)d + eps)};
}

// The row's shift: the mean, or 0 under rms scaling (u = (x - shift) r).
KCC_HD float shift(const Moments& m, bool rms) { return rms ? 0.0f : m.mean; }

// y = u gamma + beta for one row (y may be x).
KCC_HD void forward_row(float* y, const float* x, const float* gamma, const float* beta,
                        int64_t d, float eps, bool rms) {
    const Moments m = moments(x, d, eps);
    const float c = shift(m, rms);
    for (int64_t j = 0; j < d; ++j) {
        float u = (x[j] - c) * m.rstd;
        if (gamma) u *= gamma[j];
        y[j] = beta ? u + beta[j] : u;
    }
}

// One row's backward: dx (=, or += when acc_dx; null: not needed), and dgamma += dy u,
// dbeta += dy (either null: absent, frozen, or summed elsewhere).
KCC_HD void backward_row(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* gamma, int64_t d, float eps, bool rms, bool acc_dx) {
    const Moments m = moments(x, d, eps);
    const float c = shift(m, rms);
    float sum_g = 0.0f, sum_gu = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        const float u = (x[j] - c) * m.rstd;
        const float g = gamma ? dy[j] * gamma[j] : dy[j];
        sum_g += g;
        sum_gu += g * u;
        if (dgamma) dgamma[j] += dy[j] * u;
        if (dbeta) dbeta[j] += dy[j];
    }
    if (!dx) return;
    const float mean_g = rms ? 0.0f : sum_g / (float)d;
    const float mean_gu = sum_gu / (float)d;
    for (int64_t j = 0; j < d; ++j) {
        const float g = gamma ? dy[j] * gamma[j] : dy[j];
        const float centered = (x[j] - m.mean) * m.rstd;   // u, or under rms its centered form
        const float v = m.rstd * (g - mean_g - centered * mean_gu);
        dx[j] = acc_dx ? dx[j] + v : v;
    }
}

}  // namespace norm
}  // namespace kcc

#endif  // KCC_OPS_NORMALIZATION_H
