// kcc/ops/merge.h: the math of the merge layers (concatenate, element-wise, dot).
//
// Element-wise merges take their k operands as an array of pointers `xs`, each holding
// `size` floats (the batch times the per-sample size). Every gradient function writes
// dx (= or += per `accumulate`, decided statically by the memory plan), never dy.
//
//   concat:     y[r, off_i : off_i + w_i] = x_i[r, :]        dx_i[r, :] = dy[r, off_i : ...]
//   sum / ave:  y = s * sum_i x_i  (s = 1 or 1/k)            dx_i = s * dy
//   subtract:   y = x_0 - x_1                                dx_0 = dy, dx_1 = -dy
//   multiply:   y = prod_i x_i                               dx_i = dy * prod_{j != i} x_j
//   max / min:  y = the max (min) over i                     dx_i = dy where operand i is the
//                                                            FIRST holding the max (min), else 0
//   dot:        y[r] = sum_d a[r, d] b[r, d]                 da = dy b, db = dy a
//
// Tie rule for max / min: the whole gradient goes to the first operand (lowest index)
// that holds the extreme value, so ties never split or double the gradient. (Keras's
// autodiff backends differ among themselves here; any choice is a valid subgradient.)
#ifndef KCC_OPS_MERGE_H
#define KCC_OPS_MERGE_H

#include <stdint.h>
#include <string.h>
#include "kcc/common.h"

namespace kcc {
namespace merge {

// ---- concatenate: row blocks with strides ---------------------------------------------
// dst[r * dst_stride + j] = src[r * src_stride + j] for j < w   (or += with `accumulate`)
inline void copy_rows(float* KCC_RESTRICT dst, int64_t dst_stride, const float* KCC_RESTRICT src,
                      int64_t src_stride, int64_t rows, int64_t w, bool accumulate) {
    for (int64_t r = 0; r < rows; ++r) {
        float* KCC_RESTRICT d = dst + r * dst_stride;
        const float* KCC_RESTRICT s = src + r * src_stride;
        if (accumulate) for (int64_t j = 0; j < w; ++j) d[j] += s[j];
        else            memcpy(d, s, sizeof(float) * w);
    }
}

// ---- element-wise: per-element math, shared by the CPU loops below and CUDA kernels --
// Element e of each merge and of operand i's gradient (before = / +=), given the operand
// pointers xs.
KCC_HD float sum_at(const float* const* xs, int k, int64_t e, float scale) {
    float s = xs[0][e];
    for (int i = 1; i < k; ++i) s += xs[i][e];
    return s * scale;
}

KCC_HD float product_at(const float* const* xs, int k, int64_t e) {
    float p = xs[0][e];
    for (int i = 1; i < k; ++i) p *= xs[i][e];
    return p;
}

// Max and min as Keras takes them: a NaN wins (the result is NaN, as max is in numpy, torch
// and TF), else the first of equal values. Max pooling uses the same rule (kcc/ops/pool.h).
// `|` rather than `||`: no branch, so the pooling loops still vectorize (compare, compare,
// or, blend). A NaN already held stays: nothing is greater than it, and it is not a new NaN.
struct Greater { static KCC_HD bool better(float a, float b) { return (a > b) | ((a != a) & (b == b)); } };
struct Less    { static KCC_HD bool better(float a, float b) { return (a < b) | ((a != a) & (b == b)); } };

// Index of the first operand holding the max (Greater) or min (Less) at element e.
template <class Cmp>
KCC_HD int winner(const float* const* xs, int k, int64_t e) {
    int w = 0;
    float m = xs[0][e];
    for (int i = 1; i < k; ++i)
        if (Cmp::better(xs[i][e], m)) { m = xs[i][e]; w = i; }
    return w;
}

// dy_e times the product of the operands other than i: no division, exact at zeros.
KCC_HD float grad_product_at(float dy_e, const float* const* xs, int k, int i, int64_t e) {
    float g = dy_e;
    for (int j = 0; j < k; ++j) if (j != i) g *= xs[j][e];
    return g;
}

// dy_e when operand i is the first holding the extreme at e, else 0.
template <class Cmp>
KCC_HD float grad_select_at(float dy_e, const float* const* xs, int k, int i, int64_t e) {
    return winner<Cmp>(xs, k, e) == i ? dy_e : 0.0f;
}

// ---- element-wise: forward --------------------------------------------------------------
inline void sum(float* KCC_RESTRICT y, const float* const* xs, int k, int64_t size, float scale) {
    for (int64_t e = 0; e < size; ++e) y[e] = sum_at(xs, k, e, scale);
}

inline void subtract(float* KCC_RESTRICT y, const float* a, const float* b, int64_t size) {
    for (int64_t e = 0; e < size; ++e) y[e] = a[e] - b[e];
}

inline void product(float* KCC_RESTRICT y, const float* const* xs, int k, int64_t size) {
    for (int64_t e = 0; e < size; ++e) y[e] = product_at(xs, k, e);
}

template <class Cmp>
inline void select(float* KCC_RESTRICT y, const float* const* xs, int k, int64_t size) {
    for (int64_t e = 0; e < size; ++e) y[e] = xs[winner<Cmp>(xs, k, e)][e];
}

// ---- element-wise: gradients of operand `i` ---------------------------------------------
inline void grad_scale(float* KCC_RESTRICT dx, const float* KCC_RESTRICT dy, int64_t size,
                       float scale, bool accumulate) {
    if (accumulate) for (int64_t e = 0; e < size; ++e) dx[e] += scale * dy[e];
    else            for (int64_t e = 0; e < size; ++e) dx[e] = scale * dy[e];
}

inline void grad_product(float* KCC_RESTRICT dx, const float* KCC_RESTRICT dy,
                         const float* const* xs, int k, int i, int64_t size, bool accumulate) {
    for (int64_t e = 0; e < size; ++e) {
        const float g = grad_product_at(dy[e], xs, k, i, e);
        dx[e] = accumulate ? dx[e] + g : g;
    }
}

template <class Cmp>
inline void grad_select(float* KCC_RESTRICT dx, const float* KCC_RESTRICT dy,
                        const float* const* xs, int k, int i, int64_t size, bool accumulate) {
    for (int64_t e = 0; e < size; ++e) {
        const float g = grad_select_at<Cmp>(dy[e], xs, k, i, e);
        dx[e] = accumulate ? dx[e] + g : g;
    }
}

// ---- dot of two (rows, d) operands -> (rows, 1) ------------------------------------------
// sum_j a[j] b[j] over one row (per row on the CPU, per thread on CUDA)
KCC_HD float dot_row(const float* a, const float* b, int64_t d) {
    float s = 0.0f;
    for (int64_t j = 0; j < d; ++j) s += a[j] * b[j];
    return s;
}

inline void dot(float* KCC_RESTRICT y, const float* a, const float* b, int64_t rows, int64_t d) {
    for (int64_t r = 0; r < rows; ++r) y[r] = dot_row(a + r * d, b + r * d, d);
}

// dx[r, :] (+)= dy[r] * other[r, :]
inline void grad_dot(float* KCC_RESTRICT dx, const float* KCC_RESTRICT dy, const float* other,
                     int64_t rows, int64_t d, bool accumulate) {
    for (int64_t r = 0; r < rows; ++r) {
        const float g = dy[r];
        float* KCC_RESTRICT row = dx + r * d;
        const float* o = other + r * d;
        if (accumulate) for (int64_t j = 0; j < d; ++j) row[j] += g * o[j];
        else            for (int64_t j = 0; j < d; ++j) row[j] = g * o[j];
    }
}

}  // namespace merge
}  // namespace kcc

#endif  // KCC_OPS_MERGE_H
