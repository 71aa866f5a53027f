// kcc/ops/activations.h: every activation's forward and its derivative, written once.
//
// Derivatives are expressed through the activation's *output* y (not its input): backward
// then needs only the buffer the forward already wrote, so no pre-activation is kept.
// Softmax is a row operation and lives in its own functions below.
#ifndef KCC_OPS_ACTIVATIONS_H
#define KCC_OPS_ACTIVATIONS_H

#include <math.h>
#include "kcc/common.h"

namespace kcc {
namespace act {

struct Linear {
    static KCC_HD float f(float x) { return x; }
    static KCC_HD float df(float) { return 1.0f; }
};
struct Relu {
    static KCC_HD float f(float x) { return x > 0.0f ? x : 0.0f; }
    static KCC_HD float df(float y) { return y > 0.0f ? 1.0f : 0.0f; }
};
struct Sigmoid {
    static KCC_HD float f(float x) { return 1.0f / (1.0f + expf(-x)); }
    static KCC_HD float df(float y) { return y * (1.0f - y); }
};
// Keras 3: relu6(x + 3) / 6 (Keras 1/2 used the slope 0.2; we follow today's Keras).
struct HardSigmoid {
    static KCC_HD float f(float x) { return fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) * (1.0f / 6.0f); }
    static KCC_HD float df(float y) { return (y > 0.0f && y < 1.0f) ? (1.0f / 6.0f) : 0.0f; }
};
struct Tanh {
    static KCC_HD float f(float x) { return tanhf(x); }
    static KCC_HD float df(float y) { return 1.0f - y * y; }
};
// softplus(x) = log(1 + e^x), computed without overflow; its derivative sigmoid(x) = 1 - e^-y.
struct Softplus {
    static KCC_HD float f(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }
    static KCC_HD float df(float y) { return -expm1f(-y); }
};
// elu with alpha = 1: for x < 0, y = e^x - 1, so dy/dx = e^x = y + 1.
struct Elu {
    static KCC_HD float f(float x) { return x > 0.0f ? x : expm1f(x); }
    static KCC_HD float df(float y) { return y > 0.0f ? 1.0f : y + 1.0f; }
};

// y = softmax(x) over one row of length d, stable (max subtracted). In place allowed.
KCC_HD void softmax_row(float* y, const float* x, int64_t d) {
    float m = x[0];
    for (int64_t j = 1; j < d; ++j) m = fmaxf(m, x[j]);
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) { y[j] = expf(x[j] - m); s += y[j]; }
    const float inv = 1.0f / s;
    for (int64_t j = 0; j < d; ++j) y[j] *= inv;
}

// dx = J^T dy for y = softmax(x): dx_j = y_j (dy_j - sum_k dy_k y_k). In place allowed.
KCC_HD void softmax_row_backward(float* dx, const float* dy, const float* y, int64_t d) {
    float dot = 0.0f;
    for (int64_t j = 0; j < d; ++j) dot += dy[j] * y[j];
    for (int64_t j = 0; j < d; ++j) dx[j] = y[j] * (dy[j] - dot);
}

}  // namespace act
}  // namespace kcc

#endif  // KCC_OPS_ACTIVATIONS_H
