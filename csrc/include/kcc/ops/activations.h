// kcc/ops/activations.h: every activation's forward and its derivative, written once.
//
// Most derivatives are expressed through the activation's *output* y (`df(y)`): backward
// then needs only the buffer the forward already wrote, so no pre-activation is kept.
// The smooth gates (gelu, silu, mish, ...) are not functions of their output (silu takes
// the value -0.2 at two inputs, with two slopes): they give `dfx(x)`, the derivative at
// the input, and the templates keep x for the backward (kcc.activations.FROM_INPUT lists
// them; kcc/passes/fusion.py says where x is kept).
// Softmax and log_softmax are row operations and live in their own functions below.
#ifndef KCC_OPS_ACTIVATIONS_H
#define KCC_OPS_ACTIVATIONS_H

#include <math.h>
#include <string.h>
#include "kcc/common.h"

namespace kcc {
namespace act {

// e^x that the compiler can vectorize (libm's expf is an opaque call): e^x = 2^k e^r with
// k = round(x / ln2) and |r| <= ln2/2, e^r = 1 + r + r^2 P(r). Coefficients fitted by
// tools/fit_activation_polys.py; error ~1 ulp in float, like libm. Inputs are clamped to
// [-87, 88], where e^x is a normal float.
KCC_HD float fast_exp(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);   // ternaries: fminf may be a call
    const float k = rintf(x * 1.44269504088896341f);
    float r = fmaf(k, -0.693145751953125f, x);          // ln2 split in two for exactness
    r = fmaf(k, -1.428606765330187e-06f, r);
    float p = 1.9826496186e-04f;
    p = fmaf(p, r, 1.3946020784e-03f);
    p = fmaf(p, r, 8.3334299754e-03f);
    p = fmaf(p, r, 4.1666270285e-02f);
    p = fmaf(p, r, 1.6666666164e-01f);
    p = fmaf(p, r, 5.0000000781e-01f);
    p = fmaf(p, r * r, r) + 1.0f;
    const int32_t bits = ((int32_t)k + 127) << 23;       // 2^k, k in [-126, 127]
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

struct Linear {
    static KCC_HD float f(float x) { return x; }
    static KCC_HD float df(float) { return 1.0f; }
};
// NaN goes through relu and hard_sigmoid as it does in Keras (max and clip propagate it):
// written `x < 0 ? 0 : x`, not `x > 0 ? x : 0` or fmaxf, which would turn a NaN input into a
// plausible 0 and keep a diverged model's loss finite.
struct Relu {
    static KCC_HD float f(float x) { return x < 0.0f ? 0.0f : x; }
    static KCC_HD float df(float y) { return y > 0.0f ? 1.0f : 0.0f; }
};
struct Sigmoid {
    static KCC_HD float f(float x) { return 1.0f / (1.0f + fast_exp(-x)); }
    static KCC_HD float df(float y) { return y * (1.0f - y); }
};
// Keras 3: relu6(x + 3) / 6 (Keras 1/2 used the slope 0.2; we follow today's Keras).
struct HardSigmoid {
    static KCC_HD float f(float x) {
        const float t = x + 3.0f < 0.0f ? 0.0f : x + 3.0f;
        return (t > 6.0f ? 6.0f : t) * (1.0f / 6.0f);
    }
    static KCC_HD float df(float y) { return (y > 0.0f && y < 1.0f) ? (1.0f / 6.0f) : 0.0f; }
};
// tanh: x + x^3 Q(x^2) near 0 (where 1 - 2/(e^2x + 1) would cancel), that form beyond;
// both branches are computed so the loop stays branch-free and vectorizes.
struct Tanh {
    static KCC_HD float f(float x) {
        const float ax = fabsf(x), x2 = x * x;
        float q = -5.7189788589e-03f;
        q = fmaf(q, x2, 2.0653140829e-02f);
        q = fmaf(q, x2, -5.3744663627e-02f);
        q = fmaf(q, x2, 1.3331512747e-01f);
        q = fmaf(q, x2, -3.3333285223e-01f);
        const float small = fmaf(q * x2, x, x);
        const float large = copysignf(1.0f - 2.0f / (fast_exp(2.0f * ax) + 1.0f), x);
        return ax < 0.625f ? small : large;
    }
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

// The rest of Keras 3's element-wise activations whose derivative the output determines
// (each is monotonic, or flat where it is not), with Keras's default parameters. A NaN
// input gives NaN, as in Keras: comparisons that a NaN fails fall through to a branch
// computed from x (x * 0.0f where the value would be a constant 0).
struct Relu6 {
    static KCC_HD float f(float x) { return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x); }
    static KCC_HD float df(float y) { return (y > 0.0f && y < 6.0f) ? 1.0f : 0.0f; }
};
// scale * elu(x, alpha) with the self-normalizing constants; for x <= 0, dy/dx = y + scale*alpha:
// scale = 1.0507009873554805, scale * alpha = 1.0507009873554805 * 1.6732632423543772.
struct Selu {
    static KCC_HD float f(float x) {
        return x > 0.0f ? 1.05070098735548049f * x : 1.75809934084737685f * expm1f(x);
    }
    static KCC_HD float df(float y) {
        return y > 0.0f ? 1.05070098735548049f : y + 1.75809934084737685f;
    }
};
// x / (1 + |x|): dy/dx = 1 / (1 + |x|)^2 = (1 - |y|)^2.
struct Softsign {
    static KCC_HD float f(float x) { return x / (1.0f + fabsf(x)); }
    static KCC_HD float df(float y) { const float t = 1.0f - fabsf(y); return t * t; }
};
struct Exponential {
    static KCC_HD float f(float x) { return expf(x); }
    static KCC_HD float df(float y) { return y; }
};
// negative_slope = 0.2 (Keras 3's default for the name 'leaky_relu').
struct LeakyRelu {
    static KCC_HD float f(float x) { return x < 0.0f ? 0.2f * x : x; }
    static KCC_HD float df(float y) { return y > 0.0f ? 1.0f : 0.2f; }
};
struct HardTanh {
    static KCC_HD float f(float x) { return x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x); }
    static KCC_HD float df(float y) { return (y > -1.0f && y < 1.0f) ? 1.0f : 0.0f; }
};
// log(sigmoid(x)) = -softplus(-x); dy/dx = sigmoid(-x) = 1 - e^y.
struct LogSigmoid {
    static KCC_HD float f(float x) { return fminf(x, 0.0f) - log1pf(expf(-fabsf(x))); }
    static KCC_HD float df(float y) { return -expm1f(y); }
};
// 0 below -1, (x + 1)^2 / 4 in between, x from 1 on: dy/dx = sqrt(y) below 1, then 1.
struct SparsePlus {
    static KCC_HD float f(float x) {
        return x <= -1.0f ? 0.0f : (x >= 1.0f ? x : 0.25f * (x + 1.0f) * (x + 1.0f));
    }
    static KCC_HD float df(float y) { return y >= 1.0f ? 1.0f : sqrtf(y); }
};
// (x + sqrt(x^2 + 4)) / 2 (b = 4), written 2 / (sqrt(x^2 + 4) - x) for x < 0, where the
// sum would cancel. sqrt(x^2 + 4) = y + 1/y, so dy/dx = y / (y + 1/y) = y^2 / (y^2 + 1).
struct Squareplus {
    static KCC_HD float f(float x) {
        const float s = sqrtf(x * x + 4.0f);
        return x < 0.0f ? 2.0f / (s - x) : 0.5f * (x + s);
    }
    static KCC_HD float df(float y) { return y * y / (y * y + 1.0f); }
};
// 0 below -1, (x + 1) / 2 in between, 1 from 1 on.
struct SparseSigmoid {
    static KCC_HD float f(float x) {
        return x <= -1.0f ? 0.0f : (x >= 1.0f ? 1.0f : 0.5f * (x + 1.0f));
    }
    static KCC_HD float df(float y) { return (y > 0.0f && y < 1.0f) ? 0.5f : 0.0f; }
};
// threshold = 0.5: x -+ 0.5 beyond it, 0 within.
struct SoftShrink {
    static KCC_HD float f(float x) {
        return x > 0.5f ? x - 0.5f : (x < -0.5f ? x + 0.5f : x * 0.0f);
    }
    static KCC_HD float df(float y) { return y != 0.0f ? 1.0f : 0.0f; }
};
struct HardShrink {
    static KCC_HD float f(float x) { return (x > 0.5f || x < -0.5f) ? x : x * 0.0f; }
    static KCC_HD float df(float y) { return y != 0.0f ? 1.0f : 0.0f; }
};

// The activations whose derivative needs the input x: f(x) and dfx(x) = f'(x).
// x * sigmoid(x); f' = s + x s (1 - s).
struct Silu {
    static KCC_HD float f(float x) { return x * Sigmoid::f(x); }
    static KCC_HD float dfx(float x) {
        const float s = Sigmoid::f(x);
        return fmaf(x * s, 1.0f - s, s);
    }
};
// Keras 3's default gelu (approximate=False): x Phi(x), Phi the normal CDF, written with
// erfc so that the tail x << 0 does not cancel (1 + erf(x / sqrt2) would): f' = Phi(x) +
// x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi).
struct Gelu {
    static KCC_HD float cdf(float x) { return 0.5f * erfcf(-0.70710678118654752f * x); }
    static KCC_HD float f(float x) { return x * cdf(x); }
    static KCC_HD float dfx(float x) {
        return fmaf(x * 0.39894228040143268f, fast_exp(-0.5f * x * x), cdf(x));
    }
};
// gelu(x, approximate=True): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed
// as x sigmoid(2u) (the same function; 1 + tanh(u) would cancel for x << 0):
// f' = s + 2 x s (1 - s) u'(x), u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
struct GeluApproximate {
    static KCC_HD float two_u(float x) {
        return 1.59576912160573071f * fmaf(0.044715f * x * x, x, x);
    }
    static KCC_HD float f(float x) { return x * Sigmoid::f(two_u(x)); }
    static KCC_HD float dfx(float x) {
        const float s = Sigmoid::f(two_u(x));
        const float du2 = 1.59576912160573071f * fmaf(0.134145f, x * x, 1.0f);   // (2u)'
        return fmaf(x * s * (1.0f - s), du2, s);
    }
};
// x tanh(softplus(x)); f' = t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x)).
struct Mish {
    static KCC_HD float f(float x) { return x * Tanh::f(Softplus::f(x)); }
    static KCC_HD float dfx(float x) {
        const float t = Tanh::f(Softplus::f(x));
        return fmaf(x * (1.0f - t * t), Sigmoid::f(x), t);
    }
};
// x relu6(x + 3) / 6 (hard_swish); f' = 0 below -3, 1 above 3, x / 3 + 1/2 between (torch's
// hardswish gradient, which Keras 3 on torch uses, takes the middle piece at x = 3).
struct HardSilu {
    static KCC_HD float f(float x) { return x * HardSigmoid::f(x); }
    static KCC_HD float dfx(float x) {
        return x < -3.0f ? 0.0f : (x > 3.0f ? 1.0f : fmaf(x, 1.0f / 3.0f, 0.5f));
    }
};
// x - tanh(x); f' = tanh(x)^2.
struct TanhShrink {
    static KCC_HD float f(float x) { return x - Tanh::f(x); }
    static KCC_HD float dfx(float x) { const float t = Tanh::f(x); return t * t; }
};

// -- Activations with arguments (the layers ReLU, LeakyReLU, ELU, PReLU): a struct holding
// Keras's constants, whose f(x) and dfx(x) the templates call on an instance built from the
// op's attrs. Derivatives are taken at the input, as the torch backend differentiates them
// (at a kink, the side torch's kernel takes).

// Keras 3's relu(x, negative_slope, max_value, threshold) outside its leaky_relu case:
// x above the threshold, clipped at max_value (HUGE_VALF for None), negative_slope (x - t)
// below it, 0 at it. A NaN input fails both comparisons and comes out as NaN.
struct ReluWith {
    float negative_slope, max_value, threshold;
    KCC_HD float f(float x) const {
        return x > threshold ? (x > max_value ? max_value : x)
                             : (x <= threshold ? (negative_slope != 0.0f ? negative_slope * (x - threshold) : 0.0f) : x);
    }
    // clip passes its bounds (x == max_value has slope 1); where(x > t) and relu(t - x) are
    // flat at x == t
    KCC_HD float dfx(float x) const {
        return x > threshold ? (x > max_value ? 0.0f : 1.0f) : (x < threshold ? negative_slope : 0.0f);
    }
};
// leaky_relu(x, negative_slope): torch's kernel takes the slope at x <= 0, 0 included.
struct LeakyReluWith {
    float negative_slope;
    KCC_HD float f(float x) const { return x > 0.0f ? x : negative_slope * x; }
    KCC_HD float dfx(float x) const { return x > 0.0f ? 1.0f : negative_slope; }
};
// elu(x, alpha) = alpha (e^x - 1) for x <= 0; dy/dx = alpha e^x there (torch's, at 0 too).
struct EluWith {
    float alpha;
    KCC_HD float f(float x) const { return x > 0.0f ? x : alpha * expm1f(x); }
    KCC_HD float dfx(float x) const { return x > 0.0f ? 1.0f : alpha * expf(x); }
};
// PReLU's relu(x) - alpha relu(-x), alpha a weight per element: its derivatives in x and in
// alpha (relu's slope is 0 at 0, so both vanish at x == 0).
struct Prelu {
    static KCC_HD float f(float x, float alpha) { return x > 0.0f ? x : (x < 0.0f ? alpha * x : x * 0.0f); }
    static KCC_HD float dfx(float x, float alpha) { return x > 0.0f ? 1.0f : (x < 0.0f ? alpha : 0.0f); }
    static KCC_HD float dalpha(float x) { return x < 0.0f ? x : 0.0f; }
};

// -- Row activations: functions of a whole row (Keras's last axis), not of each element.
// Each is a pair <name>_row(y, x, d) / <name>_row_backward(dx, dy, y, d), in place allowed
// (y == x, dx == dy), whose backward needs only the output y, like the element-wise df(y).
// kcc.activations.ROW lists them; the templates call the pair by the activation's name
// (kcc::act::softmax_row, kcc::dense::bias_softmax, ...). Both are stable the same way:
// the row's max m is subtracted before any exponential, so e^(x_j - m) <= 1 and the sum
// lies in [1, d].

// The row's max, the first step of every row activation.
KCC_HD float row_max(const float* x, int64_t d) {
    float m = x[0];
    for (int64_t j = 1; j < d; ++j) m = fmaxf(m, x[j]);
    return m;
}

// y = softmax(x): y_j = e^(x_j - m) / sum_k e^(x_k - m).
KCC_HD void softmax_row(float* y, const float* x, int64_t d) {
    const float m = row_max(x, d);
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) { y[j] = fast_exp(x[j] - m); s += y[j]; }
    const float inv = 1.0f / s;
    for (int64_t j = 0; j < d; ++j) y[j] *= inv;
}

// dx = J^T dy for y = softmax(x): dx_j = y_j (dy_j - sum_k dy_k y_k).
KCC_HD void softmax_row_backward(float* dx, const float* dy, const float* y, int64_t d) {
    float dot = 0.0f;
    for (int64_t j = 0; j < d; ++j) dot += dy[j] * y[j];
    for (int64_t j = 0; j < d; ++j) dx[j] = y[j] * (dy[j] - dot);
}

// y = log_softmax(x): y_j = (x_j - m) - log sum_k e^(x_k - m). No exponential is stored,
// so a row far below its max keeps its exact distance (-1000 stays -1000, not log 0).
KCC_HD void log_softmax_row(float* y, const float* x, int64_t d) {
    const float m = row_max(x, d);
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) { y[j] = x[j] - m; s += fast_exp(y[j]); }
    const float log_s = logf(s);
    for (int64_t j = 0; j < d; ++j) y[j] -= log_s;
}

// dx = J^T dy for y = log_softmax(x): dx_j = dy_j - softmax(x)_j sum_k dy_k, softmax = e^y.
KCC_HD void log_softmax_row_backward(float* dx, const float* dy, const float* y, int64_t d) {
    float sum = 0.0f;
    for (int64_t j = 0; j < d; ++j) sum += dy[j];
    for (int64_t j = 0; j < d; ++j) dx[j] = dy[j] - fast_exp(y[j]) * sum;
}

}  // namespace act
}  // namespace kcc

#endif  // KCC_OPS_ACTIVATIONS_H
