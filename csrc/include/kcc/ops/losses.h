// kcc/ops/losses.h: per-row loss values, their gradients, and the metrics, written once.
//
// Values follow Keras 3 with from_logits=False: probabilities are clipped to
// [1e-7, 1 - 1e-7]; categorical crossentropy first renormalizes the row to sum 1.
// `scale` is loss_weight / batch_rows: the loss is a mean over the batch.
// *_grad gives d loss / d prediction; *_grad_fused gives d loss / d logits when the
// prediction came out of softmax (categorical) or sigmoid (binary): the well-known
// p - y form, which never divides by a tiny probability, with the clip's flat parts
// left out as the unfused gradients leave them (a true class the softmax holds below
// 1e-7 gets no gradient, as in Keras 3 on torch or JAX: the gradient is the loss's).
// *_from_logits are Keras 3's from_logits=True losses: the prediction is the logits z and
// the loss applies the softmax / sigmoid itself, in log space with no clip; their
// gradient is the fused one's p - y with p computed from z and nothing clipped.
// `ls` is Keras 3's label_smoothing (categorical and binary; 0 leaves y as it is): every
// crossentropy reads y_j * (1 - ls) + ls / d (categorical, d classes) or
// y_j * (1 - ls) + ls / 2 (binary) in place of y_j, in its value and its gradient alike.
#ifndef KCC_OPS_LOSSES_H
#define KCC_OPS_LOSSES_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "kcc/common.h"
#include "kcc/ops/activations.h"
#include "kcc/ops/mask.h"

namespace kcc {
namespace loss {

// Every target row a loss reads ends with its weight (1 unless fit, evaluate or
// class_weight gave one; per sample, or per timestep): a float, stored in an int32 slot
// after a sparse class id. It multiplies the row's loss and its gradient, and the
// `weighted_metrics` (the other metrics stay unweighted, as in Keras).
KCC_HD float weight_of(const float* slot) { return *slot; }
KCC_HD float weight_of(const int32_t* slot) {
    float w;
    memcpy(&w, slot, sizeof w);   // the float's bits, as numpy wrote them
    return w;
}

// The smoothed target, as Keras 3 forms it: y * (1 - ls) + ls * share, where share is
// 1 / classes (categorical) or 0.5 (binary).
KCC_HD float smooth(float y, float ls, float share) { return y * (1.0f - ls) + ls * share; }

constexpr float kEps = 1e-7f;
// (a NaN prediction stays NaN, so its loss is NaN, as in Keras, not -log(1e-7))
KCC_HD float clip_prob(float p) { return p < kEps ? kEps : (p > 1.0f - kEps ? 1.0f - kEps : p); }

// -- categorical crossentropy: y is a distribution (one-hot) over d classes ------------
KCC_HD float categorical_crossentropy(const float* p, const float* y, int64_t d,
                                      float ls = 0.0f) {
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += p[j];
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j)
        l -= smooth(y[j], ls, 1.0f / (float)d) * logf(clip_prob(p[j] / s));
    return l;
}
// The clip makes the loss flat where p/s leaves [eps, 1 - eps]: those entries get no
// gradient and drop out of the normalization term, exactly as differentiating Keras's
// clipped loss gives.
KCC_HD bool in_clip(float q) { return q > kEps && q < 1.0f - kEps; }

KCC_HD void categorical_crossentropy_grad(float* dp, const float* p, const float* y, int64_t d,
                                          float scale, float ls = 0.0f) {
    const float share = 1.0f / (float)d;
    float s = 0.0f, ys = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += p[j];
    for (int64_t j = 0; j < d; ++j) if (in_clip(p[j] / s)) ys += smooth(y[j], ls, share);
    for (int64_t j = 0; j < d; ++j)
        dp[j] = scale * (ys / s - (in_clip(p[j] / s) ? smooth(y[j], ls, share) / p[j] : 0.0f));
}
// Through the softmax, dz_j = p_j * sum of the live y - (y_j if j is live): p - y for a
// one-hot y whose class is live, 0 when the clip holds it. Without `clip` every entry is
// live (from_logits). dz may be p (in place).
KCC_HD void softmax_crossentropy_grad(float* dz, const float* p, const float* y, int64_t d,
                                      float scale, bool clip, float ls) {
    const float share = 1.0f / (float)d;
    float s = 0.0f, ys = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += p[j];
    for (int64_t j = 0; j < d; ++j) if (!clip || in_clip(p[j] / s)) ys += smooth(y[j], ls, share);
    for (int64_t j = 0; j < d; ++j)
        dz[j] = scale * (p[j] * ys
                         - ((!clip || in_clip(p[j] / s)) ? smooth(y[j], ls, share) : 0.0f));
}
KCC_HD void categorical_crossentropy_grad_fused(float* dz, const float* p, const float* y,
                                                int64_t d, float scale, float ls = 0.0f) {
    softmax_crossentropy_grad(dz, p, y, d, scale, true, ls);
}
// from_logits: -sum_j y_j log softmax(z)_j = sum_j y_j (logsumexp(z) - z_j), the row max
// subtracted before any exponential (as log_softmax_row), so logits of +-100 stay finite.
KCC_HD float logsumexp_row(const float* z, int64_t d) {
    const float m = act::row_max(z, d);
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += act::fast_exp(z[j] - m);
    return m + logf(s);
}
KCC_HD float categorical_crossentropy_from_logits(const float* z, const float* y, int64_t d,
                                                  float ls = 0.0f) {
    const float lse = logsumexp_row(z, d);
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) l += smooth(y[j], ls, 1.0f / (float)d) * (lse - z[j]);
    return l;
}
KCC_HD void categorical_crossentropy_from_logits_grad(float* dz, const float* z, const float* y,
                                                      int64_t d, float scale, float ls = 0.0f) {
    act::softmax_row(dz, z, d);
    softmax_crossentropy_grad(dz, dz, y, d, scale, false, ls);
}

// -- sparse categorical crossentropy: y is one class index --------------------------------
KCC_HD float sparse_categorical_crossentropy(const float* p, const int32_t* y, int64_t d) {
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += p[j];
    return -logf(clip_prob(p[*y] / s));
}
KCC_HD void sparse_categorical_crossentropy_grad(float* dp, const float* p, const int32_t* y,
                                                 int64_t d, float scale) {
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += p[j];
    const bool live = in_clip(p[*y] / s);
    for (int64_t j = 0; j < d; ++j) dp[j] = live ? scale / s : 0.0f;
    if (live) dp[*y] -= scale / p[*y];
}
KCC_HD void sparse_softmax_crossentropy_grad(float* dz, const float* p, const int32_t* y,
                                             int64_t d, float scale, bool clip) {
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += p[j];
    const bool live = !clip || in_clip(p[*y] / s);
    for (int64_t j = 0; j < d; ++j) dz[j] = live ? scale * p[j] : 0.0f;
    if (live) dz[*y] -= scale;
}
KCC_HD void sparse_categorical_crossentropy_grad_fused(float* dz, const float* p,
                                                       const int32_t* y, int64_t d, float scale) {
    sparse_softmax_crossentropy_grad(dz, p, y, d, scale, true);
}
KCC_HD float sparse_categorical_crossentropy_from_logits(const float* z, const int32_t* y,
                                                         int64_t d) {
    return logsumexp_row(z, d) - z[*y];
}
KCC_HD void sparse_categorical_crossentropy_from_logits_grad(float* dz, const float* z,
                                                             const int32_t* y, int64_t d,
                                                             float scale) {
    act::softmax_row(dz, z, d);
    sparse_softmax_crossentropy_grad(dz, dz, y, d, scale, false);
}

// -- binary crossentropy: mean over the row of independent Bernoulli losses -----------------
KCC_HD float binary_crossentropy(const float* p, const float* y, int64_t d, float ls = 0.0f) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        const float q = clip_prob(p[j]), t = smooth(y[j], ls, 0.5f);
        l -= t * logf(q) + (1.0f - t) * logf(1.0f - q);
    }
    return l / (float)d;
}
KCC_HD void binary_crossentropy_grad(float* dp, const float* p, const float* y, int64_t d,
                                     float scale, float ls = 0.0f) {
    for (int64_t j = 0; j < d; ++j)
        dp[j] = in_clip(p[j]) ? scale * (p[j] - smooth(y[j], ls, 0.5f))
                                    / (p[j] * (1.0f - p[j]) * (float)d) : 0.0f;
}
KCC_HD void sigmoid_crossentropy_grad(float* dz, const float* p, const float* y, int64_t d,
                                      float scale, bool clip, float ls) {
    for (int64_t j = 0; j < d; ++j)
        dz[j] = (!clip || in_clip(p[j])) ? scale * (p[j] - smooth(y[j], ls, 0.5f)) / (float)d
                                         : 0.0f;
}
KCC_HD void binary_crossentropy_grad_fused(float* dz, const float* p, const float* y, int64_t d,
                                           float scale, float ls = 0.0f) {
    sigmoid_crossentropy_grad(dz, p, y, d, scale, true, ls);
}
// from_logits: max(z, 0) - z y + log(1 + e^-|z|), which never overflows (Keras 3 on torch:
// binary_cross_entropy_with_logits), averaged over the row.
KCC_HD float binary_crossentropy_from_logits(const float* z, const float* y, int64_t d,
                                              float ls = 0.0f) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j)
        l += fmaxf(z[j], 0.0f) - z[j] * smooth(y[j], ls, 0.5f) + log1pf(expf(-fabsf(z[j])));
    return l / (float)d;
}
KCC_HD void binary_crossentropy_from_logits_grad(float* dz, const float* z, const float* y,
                                                 int64_t d, float scale, float ls = 0.0f) {
    for (int64_t j = 0; j < d; ++j) dz[j] = act::Sigmoid::f(z[j]);
    sigmoid_crossentropy_grad(dz, dz, y, d, scale, false, ls);
}

// -- regression ------------------------------------------------------------------------------
KCC_HD float mean_squared_error(const float* p, const float* y, int64_t d) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) l += (p[j] - y[j]) * (p[j] - y[j]);
    return l / (float)d;
}
KCC_HD void mean_squared_error_grad(float* dp, const float* p, const float* y, int64_t d,
                                    float scale) {
    for (int64_t j = 0; j < d; ++j) dp[j] = scale * 2.0f * (p[j] - y[j]) / (float)d;
}
KCC_HD float mean_absolute_error(const float* p, const float* y, int64_t d) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) l += fabsf(p[j] - y[j]);
    return l / (float)d;
}
KCC_HD void mean_absolute_error_grad(float* dp, const float* p, const float* y, int64_t d,
                                     float scale) {
    for (int64_t j = 0; j < d; ++j) {
        const float r = p[j] - y[j];
        dp[j] = scale * (r > 0.0f ? 1.0f : (r < 0.0f ? -1.0f : 0.0f)) / (float)d;
    }
}

}  // namespace loss

namespace metric {

// First index of the row maximum, as argmax does.
KCC_HD int64_t argmax(const float* x, int64_t d) {
    int64_t k = 0;
    for (int64_t j = 1; j < d; ++j) if (x[j] > x[k]) k = j;
    return k;
}
KCC_HD float categorical_accuracy(const float* p, const float* y, int64_t d) {
    return argmax(p, d) == argmax(y, d) ? 1.0f : 0.0f;
}
KCC_HD float sparse_categorical_accuracy(const float* p, const int32_t* y, int64_t d) {
    return argmax(p, d) == (int64_t)*y ? 1.0f : 0.0f;
}
KCC_HD float binary_accuracy(const float* p, const float* y, int64_t d) {
    float hits = 0.0f;
    for (int64_t j = 0; j < d; ++j) hits += ((p[j] > 0.5f ? 1.0f : 0.0f) == y[j]) ? 1.0f : 0.0f;
    return hits / (float)d;
}
KCC_HD float mean_squared_error(const float* p, const float* y, int64_t d) {
    return loss::mean_squared_error(p, y, d);
}
KCC_HD float mean_absolute_error(const float* p, const float* y, int64_t d) {
    return loss::mean_absolute_error(p, y, d);
}

}  // namespace metric
}  // namespace kcc

#endif  // KCC_OPS_LOSSES_H
