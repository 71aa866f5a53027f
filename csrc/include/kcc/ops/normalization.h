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
// to recompute than to plan, save and read back. Each step takes a Share of the row's
// columns: the CPU template runs forward_row / backward_row (every column, in order), the
// CUDA one a block per row whose threads take every step-th column and fold the sums.
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

// sum_j x_j over the share's columns.
KCC_HD float sum(const float* x, int64_t d, Share s) {
    float acc = 0.0f;
    for (int64_t j = s.first; j < d; j += s.step) acc += x[j];
    return acc;
}

// sum_j (x_j - mean)^2 over the share's columns: the second of two passes, so no
// cancellation when |mean| >> std.
KCC_HD float sum_sq_dev(const float* x, float mean, int64_t d, Share s) {
    float acc = 0.0f;
    for (int64_t j = s.first; j < d; j += s.step) {
        const float t = x[j] - mean;
        acc += t * t;
    }
    return acc;
}

// The row's moments from the whole row's sums.
KCC_HD Moments finish(float sum_x, float sum_sq, int64_t d, float eps) {
    return {sum_x / (float)d, 1.0f / sqrtf(sum_sq / (float)d + eps)};
}

// The row's shift: the mean, or 0 under rms scaling (u = (x - shift) r).
KCC_HD float shift(const Moments& m, bool rms) { return rms ? 0.0f : m.mean; }

// y = u gamma + beta over the share's columns (y may be x).
KCC_HD void normalize(float* y, const float* x, const float* gamma, const float* beta,
                      const Moments& m, int64_t d, bool rms, Share s) {
    const float c = shift(m, rms);
    for (int64_t j = s.first; j < d; j += s.step) {
        float u = (x[j] - c) * m.rstd;
        if (gamma) u *= gamma[j];
        y[j] = beta ? u + beta[j] : u;
    }
}

// sum_j g_j and sum_j g_j u_j over a share (the input gradient needs the whole row's).
struct GradSums {
    float g, gu;
};

// The share's GradSums, and dgamma_j += dy_j u_j, dbeta_j += dy_j on its columns (either
// null: absent, frozen, or summed elsewhere).
KCC_HD GradSums grad_sums(float* dgamma, float* dbeta, const float* dy, const float* x,
                          const float* gamma, const Moments& m, int64_t d, bool rms, Share s) {
    const float c = shift(m, rms);
    GradSums acc{0.0f, 0.0f};
    for (int64_t j = s.first; j < d; j += s.step) {
        const float u = (x[j] - c) * m.rstd;
        const float g = gamma ? dy[j] * gamma[j] : dy[j];
        acc.g += g;
        acc.gu += g * u;
        if (dgamma) dgamma[j] += dy[j] * u;
        if (dbeta) dbeta[j] += dy[j];
    }
    return acc;
}

// dx (=, or += when acc_dx) on the share's columns, from the whole row's GradSums.
KCC_HD void input_grad(float* dx, const float* dy, const float* x, const float* gamma,
                       const Moments& m, const GradSums& row, int64_t d, bool rms, bool acc_dx,
                       Share s) {
    const float mean_g = rms ? 0.0f : row.g / (float)d;
    const float mean_gu = row.gu / (float)d;
    for (int64_t j = s.first; j < d; j += s.step) {
        const float g = gamma ? dy[j] * gamma[j] : dy[j];
        const float centered = (x[j] - m.mean) * m.rstd;   // u, or under rms its centered form
        const float v = m.rstd * (g - mean_g - centered * mean_gu);
        dx[j] = acc_dx ? dx[j] + v : v;
    }
}

// The whole row, in column order (the CPU template).
KCC_HD Moments moments(const float* x, int64_t d, float eps) {
    const Share all{0, 1};
    const float sum_x = sum(x, d, all);
    return finish(sum_x, sum_sq_dev(x, sum_x / (float)d, d, all), d, eps);
}

KCC_HD void forward_row(float* y, const float* x, const float* gamma, const float* beta,
                        int64_t d, float eps, bool rms) {
    normalize(y, x, gamma, beta, moments(x, d, eps), d, rms, Share{0, 1});
}

// One row's backward: dx (=, or += when acc_dx; null: not needed), and dgamma += dy u,
// dbeta += dy (either null: absent, frozen, or summed elsewhere).
KCC_HD void backward_row(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                         const float* gamma, int64_t d, float eps, bool rms, bool acc_dx) {
    const Moments m = moments(x, d, eps);
    const GradSums row = grad_sums(dgamma, dbeta, dy, x, gamma, m, d, rms, Share{0, 1});
    if (dx) input_grad(dx, dy, x, gamma, m, row, d, rms, acc_dx, Share{0, 1});
}

}  // namespace norm
}  // namespace kcc

#endif  // KCC_OPS_NORMALIZATION_H
