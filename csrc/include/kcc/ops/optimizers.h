// kcc/ops/optimizers.h: one element of each optimizer's update, Keras 3's rules exactly.
// The generated apply_gradients runs one fused loop per weight buffer over these.
#ifndef KCC_OPS_OPTIMIZERS_H
#define KCC_OPS_OPTIMIZERS_H

#include <math.h>
#include "kcc/common.h"
#include "kcc/model_abi.h"

namespace kcc {
namespace opt {

// Runs update(i, g_i) for i in [lo, hi), where g_i is the weight's gradient summed over the
// threads that split the batch: run->grads plus each run->grad_shards buffer, at offset
// `off`, always added in the same order. Reading the shards here, instead of summing them
// into one buffer first, saves a full write and re-read of every gradient per step (it
// matters for large tables: an Embedding of 10000 x 512 is 20 MB of gradient).
template <class Update>
inline void for_each_grad(const KccRun* run, int64_t off, int64_t lo, int64_t hi, Update update) {
    const float* KCC_RESTRICT g = run->grads + off;
    if (run->n_grad_shards == 0) {
        for (int64_t i = lo; i < hi; ++i) update(i, g[i]);
    } else if (run->n_grad_shards == 1) {
        const float* KCC_RESTRICT g1 = run->grad_shards[0] + off;
        for (int64_t i = lo; i < hi; ++i) update(i, g[i] + g1[i]);
    } else {
        for (int64_t i = lo; i < hi; ++i) {
            float gi = g[i];
            for (int32_t k = 0; k < run->n_grad_shards; ++k) gi += run->grad_shards[k][off + i];
            update(i, gi);
        }
    }
}

// The sum of the squares of one weight's summed gradient (n elements at `off`), in index
// order, in double: every thread that shares an update computes the same value, so the
// C++ unit's norms need no barrier between the threads (each reads the gradient once more).
inline double grad_squares(const KccRun* run, int64_t off, int64_t n) {
    double s = 0.0;
    for_each_grad(run, off, 0, n, [&](int64_t, float g) { s += (double)g * (double)g; });
    return s;
}

// ---- gradient clipping and weight decay: Keras 3's base optimizer, in its order ----------
// (clip the gradients, decay the weights, then the optimizer's own update)

// clipnorm, one weight's gradient: g * c / max(||g||, c) (Keras's _clip_by_norm).
KCC_HD float clip_by_norm(float g, float norm, float c) { return g * c / fmaxf(norm, c); }

// global_clipnorm: every gradient times c min(1 / ||all||, 1 / c) (clip_by_global_norm);
// a norm of inf or NaN makes the scale NaN, as Keras's `+ (norm - norm)` does.
KCC_HD float global_clip_scale(float norm, float c) {
    return c * fminf(1.0f / norm, 1.0f / c) + (norm - norm);
}

// clipvalue: g clamped to [-c, c].
KCC_HD float clip_by_value(float g, float c) { return fminf(fmaxf(g, -c), c); }

// Weight decay as Keras 3's torch backend: w *= 1 - weight_decay lr, before the update.
KCC_HD float decay_factor(float weight_decay, float lr) { return 1.0f - weight_decay * lr; }

// SGD: w -= lr g; with momentum m = mu m - lr g, w += m (nesterov: w += mu m - lr g).
KCC_HD void sgd(float& w, float g, float lr) { w -= lr * g; }
KCC_HD void sgd_momentum(float& w, float& m, float g, float lr, float mu, bool nesterov) {
    m = mu * m - lr * g;
    w += nesterov ? mu * m - lr * g : m;
}

// RMSprop: v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + eps) (Keras adds eps inside).
// centered: a = rho a + (1 - rho) g, the denominator is sqrt(v - a^2 + eps).
// momentum: mo = mu mo + increment, w -= mo.
KCC_HD float rmsprop_increment(float& v, float* a, float g, float lr, float rho, float eps) {
    v = rho * v + (1.0f - rho) * g * g;
    float denom = v + eps;
    if (a) { *a = rho * *a + (1.0f - rho) * g; denom -= *a * *a; }
    return lr * g / sqrtf(denom);
}

// Adam: alpha = lr sqrt(1 - b2^t) / (1 - b1^t) is computed once per step by the caller.
KCC_HD void adam(float& w, float& m, float& v, float* vhat, float g, float alpha, float b1,
                 float b2, float eps) {
    m += (g - m) * (1.0f - b1);
    v += (g * g - v) * (1.0f - b2);
    float vv = v;
    if (vhat) { *vhat = fmaxf(*vhat, v); vv = *vhat; }
    w -= alpha * m / (sqrtf(vv) + eps);
}

// Adagrad: acc += g^2; w -= lr g / sqrt(acc + eps).
KCC_HD void adagrad(float& w, float& acc, float g, float lr, float eps) {
    acc += g * g;
    w -= lr * g / sqrtf(acc + eps);
}

// Adamax: m += (g - m)(1 - b1); u = max(b2 u, |g|); w -= lr m / ((1 - b1^t)(u + eps)).
// `correction` = 1 - b1^t, once per step.
KCC_HD void adamax(float& w, float& m, float& u, float g, float lr, float b1, float b2, float eps,
                   float correction) {
    m += (g - m) * (1.0f - b1);
    u = fmaxf(b2 * u, fabsf(g));
    w -= lr * m / (correction * (u + eps));
}

// Nadam's per-step scalars (Keras 3): u_t = b1 (1 - 0.5 * 0.96^t), the running product
// u_product_t = u_product_{t-1} u_t (a float32 variable in Keras, so here one float of
// state, not a closed form), and u_{t+1} for the next step's momentum.
struct NadamStep {
    float u_t, u_t1, u_product_t, u_product_t1, v_correction;
};
KCC_HD NadamStep nadam_step(float u_product_prev, int64_t t, float b1, float b2) {
    NadamStep s;
    s.u_t = b1 * (1.0f - 0.5f * powf(0.96f, (float)t));
    s.u_t1 = b1 * (1.0f - 0.5f * powf(0.96f, (float)(t + 1)));
    s.u_product_t = u_product_prev * s.u_t;
    s.u_product_t1 = s.u_product_t * s.u_t1;
    s.v_correction = 1.0f - powf(b2, (float)t);
    return s;
}
// Step t's u_product_{t-1}: state[(t - 1) % 2], or 1 at the first step (Keras's initial
// value). Step t writes its product to state[t % 2] (kcc::opt::nadam_step's u_product_t).
KCC_HD float nadam_u_product_prev(const float* state, int64_t t) {
    return t <= 1 ? 1.0f : state[(t - 1) & 1];
}
KCC_HD void nadam(float& w, float& m, float& v, float g, float lr, float b1, float b2, float eps,
                  const NadamStep& s) {
    m += (g - m) * (1.0f - b1);
    v += (g * g - v) * (1.0f - b2);
    const float m_hat = s.u_t1 * m / (1.0f - s.u_product_t1) + (1.0f - s.u_t) * g / (1.0f - s.u_product_t);
    const float v_hat = v / s.v_correction;
    w -= m_hat * lr / (sqrtf(v_hat) + eps);
}

// Adadelta: ag = rho ag + (1 - rho) g^2; delta = -sqrt(ad + eps) g / sqrt(ag + eps);
// ad = rho ad + (1 - rho) delta^2; w += lr delta.
KCC_HD void adadelta(float& w, float& ag, float& ad, float g, float lr, float rho, float eps) {
    ag = rho * ag + (1.0f - rho) * g * g;
    const float delta = -(sqrtf(ad + eps) * g) / sqrtf(ag + eps);
    ad = rho * ad + (1.0f - rho) * delta * delta;
    w += lr * delta;
}

// Lion: w -= lr sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g.
KCC_HD void lion(float& w, float& m, float g, float lr, float b1, float b2) {
    const float c = m * b1 + g * (1.0f - b1);
    w -= lr * (float)((c > 0.0f) - (c < 0.0f));
    m = m * b2 + g * (1.0f - b2);
}

}  // namespace opt
}  // namespace kcc

#endif  // KCC_OPS_OPTIMIZERS_H
