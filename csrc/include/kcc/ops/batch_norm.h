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
// Each step takes a Share of the channel's M values (numbered in memory order): the CPU
// template runs a channel whole (moments, forward_channel, backward_channel), the CUDA one
// gives each thread of a block every step-th value and folds the partial sums. The sums
// are double, in a fixed order on each backend.
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

// f(i) for the memory index i of each of the share's values (value k sits at outer index
// k / inner, inner index k % inner); a whole channel runs in memory order without divisions.
template <class F>
KCC_HD void each_value(const Channel& ch, Share s, F f) {
    if (s.whole()) {
        for (int64_t o = 0; o < ch.outer; ++o) {
            const int64_t base = (o * ch.C + ch.c) * ch.inner;
            for (int64_t i = 0; i < ch.inner; ++i) f(base + i);
        }
        return;
    }
    for (int64_t k = s.first; k < ch.M(); k += s.step)
        f((k / ch.inner * ch.C + ch.c) * ch.inner + k % ch.inner);
}

struct Moments {
    float mean, var;
};

// sum x over the share's values.
KCC_HD double sum(const float* x, const Channel& ch, Share s) {
    double acc = 0.0;
    each_value(ch, s, [&](int64_t i) { acc += x[i]; });
    return acc;
}

// sum (x - mean)^2 over the share's values: the second of two passes, so no cancellation
// when |mean| >> std.
KCC_HD double sum_sq_dev(const float* x, double mean, const Channel& ch, Share s) {
    double acc = 0.0;
    each_value(ch, s, [&](int64_t i) {
        const double t = x[i] - mean;
        acc += t * t;
    });
    return acc;
}

KCC_HD Moments finish(double mean, double sum_sq, const Channel& ch) {
    return {(float)mean, (float)(sum_sq / (double)ch.M())};
}

// The whole channel's batch moments (var biased, over M), as Keras 3's ops.moments.
KCC_HD Moments moments(const float* x, const Channel& ch) {
    const Share all{0, 1};
    const double mean = sum(x, ch, all) / (double)ch.M();
    return finish(mean, sum_sq_dev(x, mean, ch, all), ch);
}

// moving = moving * momentum + batch * (1 - momentum), Keras's formula.
KCC_HD void update_moving(float* moving_mean, float* moving_var, const Moments& m, int64_t c,
                          float momentum) {
    moving_mean[c] = moving_mean[c] * momentum + m.mean * (1.0f - momentum);
    moving_var[c] = moving_var[c] * momentum + m.var * (1.0f - momentum);
}

KCC_HD float rstd(const Moments& m, float eps) { return 1.0f / sqrtf(m.var + eps); }

// y = u gamma + beta over the share's values (y may be x).
KCC_HD void normalize(float* y, const float* x, const float* gamma, const float* beta,
                      const Moments& m, const Channel& ch, float eps, Share s) {
    const float r = rstd(m, eps);
    const float g = gamma ? gamma[ch.c] : 1.0f, b = beta ? beta[ch.c] : 0.0f;
    each_value(ch, s, [&](int64_t i) { y[i] = (x[i] - m.mean) * r * g + b; });
}

KCC_HD void forward_channel(float* y, const float* x, const float* gamma, const float* beta,
                            const Moments& m, const Channel& ch, float eps) {
    normalize(y, x, gamma, beta, m, ch, eps, Share{0, 1});
}

// sum dy and sum dy u over a share (dgamma, dbeta and the input gradient need the whole
// channel's).
struct GradSums {
    double dy, dyu;
};

KCC_HD GradSums grad_sums(const float* dy, const float* x, const Moments& m, const Channel& ch,
                          float eps, Share s) {
    const float r = rstd(m, eps);
    GradSums acc{0.0, 0.0};
    each_value(ch, s, [&](int64_t i) {
        acc.dy += dy[i];
        acc.dyu += (double)dy[i] * ((x[i] - m.mean) * r);
    });
    return acc;
}

// dgamma[c], dbeta[c] (either null: absent or frozen) set, or added to when acc_dgamma /
// acc_dbeta, from the whole channel's sums.
KCC_HD void weight_grads(float* dgamma, float* dbeta, const GradSums& sums, int64_t c,
                         bool acc_dgamma, bool acc_dbeta) {
    if (dgamma) dgamma[c] = (acc_dgamma ? dgamma[c] : 0.0f) + (float)sums.dyu;
    if (dbeta) dbeta[c] = (acc_dbeta ? dbeta[c] : 0.0f) + (float)sums.dy;
}

// dx (=, or += when acc_dx) over the share's values. `batch`: the moments are the batch's
// own (training), so dx carries their gradient; else they are constants (moving
// statistics: dx = gamma r dy).
KCC_HD void input_grad(float* dx, const float* dy, const float* x, const float* gamma,
                       const Moments& m, const GradSums& channel, const Channel& ch, float eps,
                       bool batch, bool acc_dx, Share s) {
    const float r = rstd(m, eps);
    const double M = (double)ch.M();
    const float gr = (gamma ? gamma[ch.c] : 1.0f) * r;
    const float mean_dy = batch ? (float)(channel.dy / M) : 0.0f;
    const float mean_dyu = batch ? (float)(channel.dyu / M) : 0.0f;
    each_value(ch, s, [&](int64_t i) {
        const float u = (x[i] - m.mean) * r;
        const float v = gr * (dy[i] - mean_dy - u * mean_dyu);
        dx[i] = acc_dx ? dx[i] + v : v;
    });
}

// The whole channel's backward: dx (null: not needed), dgamma[c], dbeta[c].
KCC_HD void backward_channel(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                             const float* gamma, const Moments& m, const Channel& ch, float eps,
                             bool batch, bool acc_dx, bool acc_dgamma, bool acc_dbeta) {
    const GradSums sums = grad_sums(dy, x, m, ch, eps, Share{0, 1});
    weight_grads(dgamma, dbeta, sums, ch.c, acc_dgamma, acc_dbeta);
    if (dx) input_grad(dx, dy, x, gamma, m, sums, ch, eps, batch, acc_dx, Share{0, 1});
}

}  // namespace bn
}  // namespace kcc

#endif  // KCC_OPS_BATCH_NORM_H
