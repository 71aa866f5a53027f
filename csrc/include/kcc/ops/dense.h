// kcc/ops/dense.h: the element-wise halves of Dense (the GEMMs are in kcc/gemm.h).
//
//   forward:  z = x W (GEMM), then y = act(z + b) in one pass over the rows while hot
//   backward: dz = dy * act'(y) in place, db (+)= sum_rows dz, then the two GEMMs
// (an activation whose derivative needs its input keeps z + b: bias_act_keep)
// `ld` is the distance between rows (d unless the rows sit in a wider buffer, e.g. a slice
// of a concatenation the Dense writes into directly).
#ifndef KCC_OPS_DENSE_H
#define KCC_OPS_DENSE_H

#include <stdint.h>
#include "kcc/ops/activations.h"

namespace kcc {
namespace dense {

// y: (n, d) holds z on entry; bias may be null.
template <class Act>
inline void bias_act(float* KCC_RESTRICT y, const float* KCC_RESTRICT bias, int64_t n, int64_t d,
                     int64_t ld = 0) {
    ld = ld ? ld : d;
    for (int64_t i = 0; i < n; ++i) {
        float* KCC_RESTRICT row = y + i * ld;
        if (bias) for (int64_t j = 0; j < d; ++j) row[j] = Act::f(row[j] + bias[j]);
        else      for (int64_t j = 0; j < d; ++j) row[j] = Act::f(row[j]);
    }
}

// The same for an activation whose backward needs its input (kcc::act::Gelu, ...): the
// pre-activation z + b is also stored, in z (n, d) (compact, whatever ld), for the backward.
template <class Act>
inline void bias_act_keep(float* KCC_RESTRICT y, float* KCC_RESTRICT z, const float* KCC_RESTRICT bias,
                          int64_t n, int64_t d, int64_t ld = 0) {
    ld = ld ? ld : d;
    for (int64_t i = 0; i < n; ++i) {
        float* KCC_RESTRICT row = y + i * ld;
        float* KCC_RESTRICT zr = z + i * d;
        for (int64_t j = 0; j < d; ++j) {
            const float t = bias ? row[j] + bias[j] : row[j];
            zr[j] = t;
            row[j] = Act::f(t);
        }
    }
}

// A row activation (kcc/ops/activations.h) after the bias: each row of y becomes
// Row(z + b), Row one of act::softmax_row, act::log_softmax_row. bias may be null.
template <void (*Row)(float*, const float*, int64_t)>
inline void bias_row_act(float* KCC_RESTRICT y, const float* KCC_RESTRICT bias, int64_t n, int64_t d,
                         int64_t ld = 0) {
    ld = ld ? ld : d;
    for (int64_t i = 0; i < n; ++i) {
        float* row = y + i * ld;
        if (bias) for (int64_t j = 0; j < d; ++j) row[j] += bias[j];
        Row(row, row, d);
    }
}

inline void bias_softmax(float* KCC_RESTRICT y, const float* KCC_RESTRICT bias, int64_t n, int64_t d,
                         int64_t ld = 0) {
    bias_row_act<act::softmax_row>(y, bias, n, d, ld);
}
inline void bias_log_softmax(float* KCC_RESTRICT y, const float* KCC_RESTRICT bias, int64_t n,
                             int64_t d, int64_t ld = 0) {
    bias_row_act<act::log_softmax_row>(y, bias, n, d, ld);
}

// dz = dy * act'(y), in place over dy.
template <class Act>
inline void act_backward(float* KCC_RESTRICT dy, const float* KCC_RESTRICT y, int64_t n, int64_t d,
                         int64_t ld = 0) {
    if (!ld || ld == d) {
        for (int64_t i = 0; i < n * d; ++i) dy[i] *= Act::df(y[i]);
        return;
    }
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j) dy[i * ld + j] *= Act::df(y[i * ld + j]);
}

// dz = dy * act'(z) from the pre-activation z (n, d), compact, in place over dy.
template <class Act>
inline void act_backward_from_input(float* KCC_RESTRICT dy, const float* KCC_RESTRICT z, int64_t n,
                                    int64_t d, int64_t ld = 0) {
    ld = ld ? ld : d;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j) dy[i * ld + j] *= Act::dfx(z[i * d + j]);
}

// dz = J^T dy of a row activation, row by row in place over dy (RowBackward: one of
// act::softmax_row_backward, act::log_softmax_row_backward).
template <void (*RowBackward)(float*, const float*, const float*, int64_t)>
inline void row_act_backward(float* dy, const float* y, int64_t n, int64_t d, int64_t ld = 0) {
    ld = ld ? ld : d;
    for (int64_t i = 0; i < n; ++i) RowBackward(dy + i * ld, dy + i * ld, y + i * ld, d);
}

inline void softmax_backward(float* dy, const float* y, int64_t n, int64_t d, int64_t ld = 0) {
    row_act_backward<act::softmax_row_backward>(dy, y, n, d, ld);
}
inline void log_softmax_backward(float* dy, const float* y, int64_t n, int64_t d, int64_t ld = 0) {
    row_act_backward<act::log_softmax_row_backward>(dy, y, n, d, ld);
}

// db = sum over rows of dz (or += when `accumulate`).
inline void bias_grad(float* KCC_RESTRICT db, const float* KCC_RESTRICT dz, int64_t n, int64_t d,
                      bool accumulate, int64_t ld = 0) {
    ld = ld ? ld : d;
    if (!accumulate) for (int64_t j = 0; j < d; ++j) db[j] = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        const float* KCC_RESTRICT row = dz + i * ld;
        for (int64_t j = 0; j < d; ++j) db[j] += row[j];
    }
}

}  // namespace dense
}  // namespace kcc

#endif  // KCC_OPS_DENSE_H
