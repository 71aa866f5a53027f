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

// -- Keras 3's other losses ----------------------------------------------------------------
// Each is the mean over the row (CategoricalHinge, KLDivergence, CosineSimilarity: one value
// per row), as keras/src/losses/losses.py computes it in float32; `eps` is Keras's
// backend.epsilon() (1e-7). Where Keras clips (max, clip), the gradient is torch's: it
// flows where the clipped value is the input itself and is 0 where the clip holds.

// Huber: 0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2 (e = p - y).
KCC_HD float huber(const float* p, const float* y, int64_t d, float delta) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        const float e = p[j] - y[j], a = fabsf(e);
        l += a <= delta ? 0.5f * e * e : delta * a - 0.5f * delta * delta;
    }
    return l / (float)d;
}
KCC_HD void huber_grad(float* dp, const float* p, const float* y, int64_t d, float scale,
                       float delta) {
    for (int64_t j = 0; j < d; ++j) {
        const float e = p[j] - y[j];
        const float g = fabsf(e) <= delta ? e : (e > 0.0f ? delta : -delta);
        dp[j] = scale * g / (float)d;
    }
}

// LogCosh: x + softplus(-2x) - log 2 of x = p - y (never overflows); d/dx = tanh(x).
KCC_HD float log_cosh(const float* p, const float* y, int64_t d) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        const float x = p[j] - y[j];
        l += x + act::Softplus::f(-2.0f * x) - 0.69314718055994531f;
    }
    return l / (float)d;
}
KCC_HD void log_cosh_grad(float* dp, const float* p, const float* y, int64_t d, float scale) {
    for (int64_t j = 0; j < d; ++j) dp[j] = scale * tanhf(p[j] - y[j]) / (float)d;
}

// KLDivergence: sum y log(y / p), y and p clipped to [eps, 1] (a summed row, not a mean).
KCC_HD float clip_unit(float v) { return v < kEps ? kEps : (v > 1.0f ? 1.0f : v); }
KCC_HD float kl_divergence(const float* p, const float* y, int64_t d) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        const float t = clip_unit(y[j]);
        l += t * logf(t / clip_unit(p[j]));
    }
    return l;
}
KCC_HD void kl_divergence_grad(float* dp, const float* p, const float* y, int64_t d,
                               float scale) {
    for (int64_t j = 0; j < d; ++j)
        dp[j] = (p[j] >= kEps && p[j] <= 1.0f) ? -scale * clip_unit(y[j]) / p[j] : 0.0f;
}

// Poisson: mean of p - y log(p + eps).
KCC_HD float poisson(const float* p, const float* y, int64_t d) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) l += p[j] - y[j] * logf(p[j] + kEps);
    return l / (float)d;
}
KCC_HD void poisson_grad(float* dp, const float* p, const float* y, int64_t d, float scale) {
    for (int64_t j = 0; j < d; ++j) dp[j] = scale * (1.0f - y[j] / (p[j] + kEps)) / (float)d;
}

// Hinge and SquaredHinge read 0/1 labels as -1/1 (Keras's convert_binary_labels_to_hinge).
// Keras decides per batch (all labels 0 or 1); a row decides here, which is the same
// whenever a row of 0s and 1s sits in a batch of such rows or holds only 1s (2 * 1 - 1 = 1).
// kcc.losses refuses targets where it would not be (kcc.losses.check_hinge_targets).
KCC_HD bool binary_row(const float* y, int64_t d) {
    for (int64_t j = 0; j < d; ++j) if (y[j] != 0.0f && y[j] != 1.0f) return false;
    return true;
}
KCC_HD float hinge_label(float y, bool binary) { return binary ? 2.0f * y - 1.0f : y; }
KCC_HD float hinge(const float* p, const float* y, int64_t d) {
    const bool binary = binary_row(y, d);
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) l += fmaxf(1.0f - hinge_label(y[j], binary) * p[j], 0.0f);
    return l / (float)d;
}
KCC_HD void hinge_grad(float* dp, const float* p, const float* y, int64_t d, float scale) {
    const bool binary = binary_row(y, d);
    for (int64_t j = 0; j < d; ++j) {
        const float t = hinge_label(y[j], binary);
        dp[j] = 1.0f - t * p[j] > 0.0f ? -scale * t / (float)d : 0.0f;
    }
}
KCC_HD float squared_hinge(const float* p, const float* y, int64_t d) {
    const bool binary = binary_row(y, d);
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        const float m = fmaxf(1.0f - hinge_label(y[j], binary) * p[j], 0.0f);
        l += m * m;
    }
    return l / (float)d;
}
KCC_HD void squared_hinge_grad(float* dp, const float* p, const float* y, int64_t d,
                               float scale) {
    const bool binary = binary_row(y, d);
    for (int64_t j = 0; j < d; ++j) {
        const float t = hinge_label(y[j], binary), m = fmaxf(1.0f - t * p[j], 0.0f);
        dp[j] = -scale * 2.0f * m * t / (float)d;
    }
}

// CategoricalHinge: max(max_j (1 - y_j) p_j - sum_j y_j p_j + 1, 0), no label conversion;
// the gradient of the max goes to its first maximum.
KCC_HD int64_t categorical_hinge_neg(const float* p, const float* y, int64_t d) {
    int64_t k = 0;
    for (int64_t j = 1; j < d; ++j) if ((1.0f - y[j]) * p[j] > (1.0f - y[k]) * p[k]) k = j;
    return k;
}
KCC_HD float categorical_hinge(const float* p, const float* y, int64_t d) {
    float pos = 0.0f;
    for (int64_t j = 0; j < d; ++j) pos += y[j] * p[j];
    const int64_t k = categorical_hinge_neg(p, y, d);
    return fmaxf((1.0f - y[k]) * p[k] - pos + 1.0f, 0.0f);
}
KCC_HD void categorical_hinge_grad(float* dp, const float* p, const float* y, int64_t d,
                                   float scale) {
    const bool live = categorical_hinge(p, y, d) > 0.0f;
    const int64_t k = categorical_hinge_neg(p, y, d);
    for (int64_t j = 0; j < d; ++j) dp[j] = live ? -scale * y[j] : 0.0f;
    if (live) dp[k] += scale * (1.0f - y[k]);
}

// MeanSquaredLogarithmicError: mean of (log(max(p, eps) + 1) - log(max(y, eps) + 1))^2.
KCC_HD float mean_squared_logarithmic_error(const float* p, const float* y, int64_t d) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        const float e = logf(fmaxf(p[j], kEps) + 1.0f) - logf(fmaxf(y[j], kEps) + 1.0f);
        l += e * e;
    }
    return l / (float)d;
}
KCC_HD void mean_squared_logarithmic_error_grad(float* dp, const float* p, const float* y,
                                                int64_t d, float scale) {
    for (int64_t j = 0; j < d; ++j) {
        const float q = fmaxf(p[j], kEps) + 1.0f;
        const float e = logf(q) - logf(fmaxf(y[j], kEps) + 1.0f);
        dp[j] = p[j] > kEps ? scale * 2.0f * e / (q * (float)d) : 0.0f;
    }
}

// MeanAbsolutePercentageError: 100 * mean of |y - p| / max(|y|, eps).
KCC_HD float mean_absolute_percentage_error(const float* p, const float* y, int64_t d) {
    float l = 0.0f;
    for (int64_t j = 0; j < d; ++j) l += fabsf((y[j] - p[j]) / fmaxf(fabsf(y[j]), kEps));
    return 100.0f * l / (float)d;
}
KCC_HD void mean_absolute_percentage_error_grad(float* dp, const float* p, const float* y,
                                                int64_t d, float scale) {
    for (int64_t j = 0; j < d; ++j) {
        const float r = p[j] - y[j];
        const float s = r > 0.0f ? 1.0f : (r < 0.0f ? -1.0f : 0.0f);
        dp[j] = scale * 100.0f * s / (fmaxf(fabsf(y[j]), kEps) * (float)d);
    }
}

// CosineSimilarity: -sum of y and p each scaled by min(1 / |v|, 1 / eps) (Keras's
// normalize: x * min(rsqrt(sum x^2), 1 / eps), so a zero row stays 0).
KCC_HD float inv_norm(const float* v, int64_t d) {
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += v[j] * v[j];
    const float r = 1.0f / sqrtf(s);
    return r < 1.0f / kEps ? r : 1.0f / kEps;
}
KCC_HD float cosine_similarity(const float* p, const float* y, int64_t d) {
    float dot = 0.0f;
    for (int64_t j = 0; j < d; ++j) dot += y[j] * p[j];
    return -dot * inv_norm(y, d) * inv_norm(p, d);
}
// With q = p / |p| and t = y / |y|: d(-t.q)/dp = -(t - (t.q) q) / |p|; where 1 / eps holds
// the scale (|p| < eps) it is a constant and the gradient is -t / eps.
KCC_HD void cosine_similarity_grad(float* dp, const float* p, const float* y, int64_t d,
                                   float scale) {
    float s = 0.0f, dot = 0.0f;
    for (int64_t j = 0; j < d; ++j) { s += p[j] * p[j]; dot += y[j] * p[j]; }
    const float iy = inv_norm(y, d), r = 1.0f / sqrtf(s);
    if (r < 1.0f / kEps) {
        const float tq = dot * iy * r;
        for (int64_t j = 0; j < d; ++j) dp[j] = -scale * (y[j] * iy - tq * p[j] * r) * r;
    } else {
        for (int64_t j = 0; j < d; ++j) dp[j] = -scale * y[j] * iy / kEps;
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
// The losses as metrics, as Keras 3 has them (at their defaults: no logits, no smoothing,
// Huber's delta 1). Each is the row's loss; the epoch's value is their mean.
#define KCC_LOSS_METRIC(name) \
    KCC_HD float name(const float* p, const float* y, int64_t d) { return loss::name(p, y, d); }
KCC_LOSS_METRIC(mean_absolute_percentage_error)
KCC_LOSS_METRIC(mean_squared_logarithmic_error)
KCC_LOSS_METRIC(log_cosh)
KCC_LOSS_METRIC(kl_divergence)
KCC_LOSS_METRIC(poisson)
KCC_LOSS_METRIC(hinge)
KCC_LOSS_METRIC(squared_hinge)
KCC_LOSS_METRIC(categorical_hinge)
KCC_LOSS_METRIC(binary_crossentropy)
KCC_LOSS_METRIC(categorical_crossentropy)
#undef KCC_LOSS_METRIC
KCC_HD float sparse_categorical_crossentropy(const float* p, const int32_t* y, int64_t d) {
    return loss::sparse_categorical_crossentropy(p, y, d);
}
KCC_HD float huber(const float* p, const float* y, int64_t d) {
    return loss::huber(p, y, d, 1.0f);
}
// Keras's CosineSimilarity metric is the similarity, the loss its negative.
KCC_HD float cosine_similarity(const float* p, const float* y, int64_t d) {
    return -loss::cosine_similarity(p, y, d);
}
// RootMeanSquaredError accumulates the squared error; the driver takes the square root of
// the epoch's mean (kcc.metrics.ROOTS).
KCC_HD float root_mean_squared_error(const float* p, const float* y, int64_t d) {
    return loss::mean_squared_error(p, y, d);
}

// Top-k accuracy as Keras 3's in_top_k on torch: the true class's score is at least the
// k-th largest (ties count), i.e. fewer than k scores lie above it.
KCC_HD float in_top_k(const float* p, int64_t label, int64_t d, int64_t k) {
    int64_t above = 0;
    for (int64_t j = 0; j < d; ++j) above += p[j] > p[label] ? 1 : 0;
    return above < k ? 1.0f : 0.0f;
}
KCC_HD float top_k_categorical_accuracy(const float* p, const float* y, int64_t d,
                                        int64_t k = 5) {
    return in_top_k(p, argmax(y, d), d, k);
}
KCC_HD float sparse_top_k_categorical_accuracy(const float* p, const int32_t* y, int64_t d,
                                               int64_t k = 5) {
    return in_top_k(p, (int64_t)*y, d, k);
}

// Precision and Recall at the threshold 0.5, as Keras 3's: over every value, a prediction
// above the threshold is positive, a target other than 0 is. Each is a ratio the driver
// divides at the end of the epoch: true positives over the row's <name>_denominator.
KCC_HD float precision(const float* p, const float* y, int64_t d) {
    float tp = 0.0f;
    for (int64_t j = 0; j < d; ++j) tp += (p[j] > 0.5f && y[j] != 0.0f) ? 1.0f : 0.0f;
    return tp;
}
KCC_HD float precision_denominator(const float* p, const float*, int64_t d) {
    float positive = 0.0f;
    for (int64_t j = 0; j < d; ++j) positive += p[j] > 0.5f ? 1.0f : 0.0f;
    return positive;
}
KCC_HD float recall(const float* p, const float* y, int64_t d) { return precision(p, y, d); }
KCC_HD float recall_denominator(const float*, const float* y, int64_t d) {
    float actual = 0.0f;
    for (int64_t j = 0; j < d; ++j) actual += y[j] != 0.0f ? 1.0f : 0.0f;
    return actual;
}

}  // namespace metric
}  // namespace kcc

#endif  // KCC_OPS_LOSSES_H
