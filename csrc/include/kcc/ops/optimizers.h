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

}  // namespace opt
}  // namespace kcc

#endif  // KCC_OPS_OPTIMIZERS_H
