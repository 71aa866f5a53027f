// kcc/ops/batch_norm.h: BatchNormalization of one channel, forward and backward.
//
// The input is viewed as (outer, C, inner): the channel axis in the middle, everything the
// statistics run over around it (the batch and, for images, the spatial axes), so one
// channel's M = outer * inner values sit at x[o * C * inner + c * inner + i].
//
//   training:  mean, var = the channel's batch moments (var biased, over M), as Keras 3's
//              ops.moments; moving = moving * momentum + batch * (1 - momentum)
//   inference: mean, var = moving_mean, moving_variance
//   r = 1 / sqrt(var + eps),  u = (x - mean) r,  y = u gamma + beta  (gamma, beta may be null)
//
//   backward, batch statistics:  dx = gamma r / M (M dy - sum dy - u sum dy u)
//   backward, moving statistics: dx = gamma r dy (a per-channel affine)
//   dgamma += sum dy u,  dbeta += sum dy
//
// The sums run in one fixed order with double accumulators: the CPU unit calls these a
// channel after another, the CUDA unit a thread per channel, and both sum alike.
#ifndef KCC_OPS_BATCH_NORM_H
#define KCC_OPS_BATCH_NORM_H

#include <math.h>
#include <stdint.h>
#include "kcc/common.h"

namespace kcc {
namespace bn {

struct Channel {
    int64_t outer, C, inner, c;   // x viewed as (outer, C, inner), channel c
    KCC_HD int64_t M() const { return outer * inner; }
};

// f(i) for the index i of each of the channel's M values, in memory order.
template <class F>
KCC_HD void each_value(const Channel& ch, F f) {
    for (int64_t o = 0; o < ch.outer; ++o) {
        const int64_t base = (o * ch.C + ch.c) * ch.inner;
        for (int64_t i = 0; i < ch.inner; ++i) f(base + i);
    }
}

struct Moments {
    float mean, var;
};

// Two passes (mean, then the squared deviations): no cancellation when |mean| >> std.
KCC_HD Moments moments(const float* x, const Channel& ch) {
    const double M = (double)ch.M();
    double s = 0.0;
    each_value(ch, [&](int64_t i) { s += x[i]; });
    const double mean = s / M;
    double v = 0.0;
    each_value(ch, [&](int64_t i) {
        const double t = x[i] - mean;
        v += t * t;
    });
    return {(float)mean, (float)(v / M)};
}

// moving = moving * momentum + batch * (1 - momentum), Keras's formula.
KCC_HD void update_moving(float* moving_mean, float* moving_var, const Moments& m, int64_t c,
                          float momentum) {
    moving_mean[c] = moving_mean[c] * momentum + m.mean * (1.0f - momentum);
    moving_var[c] = moving_var[c] * momentum + m.var * (1.0f - momentum);
}

KCC_HD float rstd(const Moments& m, float eps) { return 1.0f / sqrtf(m.var + eps); }

// y = u gamma + beta over the channel (y may be x).
KCC_HD void forward_channel(float* y, const float* x, const float* gamma, const float* beta,
                            const Moments& m, const Channel& ch, float eps) {
    const float r = rstd(m, eps);
    const float g = gamma ? gamma[ch.c] : 1.0f, b = beta ? beta[ch.c] : 0.0f;
    each_value(ch, [&](int64_t i) { y[i] = (x[i] - m.mean) * r * g + b; });
}

// The channel's backward: dx (=, or += when acc_dx; null: not needed); dgamma[c], dbeta[c]
// (either null: absent or frozen) set, or added to when acc_dgamma / acc_dbeta. `batch`:
// the moments are the batch's own (training), so dx carries their gradient; else they are
// constants (moving statistics: dx = gamma r dy).
KCC_HD void backward_channel(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                             const float* gamma, const Moments& m, const Channel& ch, float eps,
                             bool batch, bool acc_dx, bool acc_dgamma, bool acc_dbeta) {
    const float r = rstd(m, eps);
    const double M = (double)ch.M();
    double sum_dy = 0.0, sum_dyu = 0.0;
    each_value(ch, [&](int64_t i) {
        sum_dy += dy[i];
        sum_dyu += (double)dy[i] * ((x[i] - m.mean) * r);
    });
    if (dgamma) dgamma[ch.c] = (acc_dgamma ? dgamma[ch.c] : 0.0f) + (float)sum_dyu;
    if (dbeta) dbeta[ch.c] = (acc_dbeta ? dbeta[ch.c] : 0.0f) + (float)sum_dy;
    if (!dx) return;
    const float gr = (gamma ? gamma[ch.c] : 1.0f) * r;
    const float mean_dy = batch ? (float)(sum_dy / M) : 0.0f;
    const float mean_dyu = batch ? (float)(sum_dyu / M) : 0.0f;
    each_value(ch, [&](int64_t i) {
        const float u = (x[i] - m.mean) * r;
        const float v = gr * (dy[i] - mean_dy - u * mean_dyu);
        dx[i] = acc_dx ? dx[i] + v : v;
    });
}

}  // namespace bn
}  // namespace kcc

#endif  // KCC_OPS_BATCH_NORM_H
