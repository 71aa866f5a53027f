// kcc/ops/recurrent.h: the gate and cell math of LSTM, GRU and SimpleRNN, written once.
//
// The generated layer code (templates/layers/recurrent.cpp.j2) does the GEMMs: the input
// projection of every step at once, then per step the recurrent product accumulated into
// that step's gate slice. What is left per step is element-wise over the units of a row,
// and lives here, forward and backward side by side (letters: U units, G = gates * U).
//
// Keras's formulas (A = activation, RA = recurrent_activation, gate order as in Keras):
//   LSTM  z = x W + h_prev R + b, split i f g o:
//         i = RA(z_i), f = RA(z_f), g = A(z_g), o = RA(z_o); c = f c_prev + i g; h = o A(c)
//   GRU   split z r h; reset_after (Keras 3 default): q = h_prev R + b_rec,
//         z = RA(x_z + q_z), r = RA(x_r + q_r), hh = A(x_h + r q_h)
//         reset_before (Keras 2): z, r as above without b_rec, hh = A(x_h + (r h_prev) R_h)
//         h = z h_prev + (1 - z) hh
//   SimpleRNN  h = A(x W + b + h_prev R)
// Forward functions turn pre-activations into activations in place (the backward reads
// gates after activation, as derivatives are written in terms of outputs: act.h); backward
// functions turn those activations into pre-activation gradients in place. A null h_prev /
// c_prev means the zero initial state (step 0; given initial states, step 0 reads them like
// any other previous state). `b` may be null (use_bias=False).
#ifndef KCC_OPS_RECURRENT_H
#define KCC_OPS_RECURRENT_H

#include <stdint.h>
#include <string.h>
#include "kcc/common.h"
#include "kcc/ops/activations.h"

namespace kcc {
namespace rnn {

KCC_HD float at(const float* p, int64_t j) { return p ? p[j] : 0.0f; }

// ---- The recurrent product, one unit at a time ------------------------------------------------
// What one thread of the fused CUDA recurrence kernels (templates/layers/recurrent.cu.j2)
// computes; the CPU does these as GEMMs. R is (U, ldr) row-major.
// out[g U + j] = (x[g U + j] +) sum_k h[k] R[k, g U + j] for the NG gate columns of unit j.
template <int NG, bool ACCUMULATE>
KCC_HD void unit_product(float* out, const float* x, const float* h, const float* R, int64_t ldr, int64_t U,
                         int64_t j) {
    float in[NG], acc[NG] = {};
    if (ACCUMULATE)   // loaded before the product, so the load is not on the step's critical path
        for (int g = 0; g < NG; ++g) in[g] = x[g * U + j];
    for (int64_t k = 0; k < U; ++k) {
        const float hk = h[k];
        const float* const rk = R + k * ldr + j;
        for (int g = 0; g < NG; ++g) acc[g] += hk * rk[g * U];
    }
    for (int g = 0; g < NG; ++g) out[g * U + j] = ACCUMULATE ? in[g] + acc[g] : acc[g];
}

// sum_m d[m] R[k, m] over the G columns: element k of d R^T, with R given transposed
// (RT (G, U), so the threads of consecutive k read consecutive words).
KCC_HD float unit_product_t(const float* d, const float* RT, int64_t G, int64_t U, int64_t k) {
    float a0 = 0.0f, a1 = 0.0f;   // two chains: half the dependent-add latency
    int64_t m = 0;
    for (; m + 1 < G; m += 2) {
        a0 += d[m] * RT[m * U + k];
        a1 += d[m + 1] * RT[(m + 1) * U + k];
    }
    if (m < G) a0 += d[m] * RT[m * U + k];
    return a0 + a1;
}

// The initial states' gradients, dst (+)= src over m floats (null dst: not needed). The
// backward leaves them in its dh_prev (dc_prev) after the first step.
inline void add_or_copy(float* KCC_RESTRICT dst, const float* KCC_RESTRICT src, int64_t m,
                        bool accumulate) {
    if (!dst) return;
    if (accumulate)
        for (int64_t k = 0; k < m; ++k) dst[k] += src[k];
    else
        memcpy(dst, src, sizeof(float) * m);
}

// ---- masks (Keras 3's backend rnn with a (batch, timesteps) mask) ----------------------------
// A masked step keeps the states it was given: new = where(mask, new, previous). Its output is
// the previous step's output, which (from zero states: Keras passes no mask to a call with
// initial states) is that state, or zero with zero_output_for_mask (Bidirectional returning
// sequences). M holds 1 (kept) or 0 per step.

// state = the previous one (null: the zero initial state), over U floats
KCC_HD void keep_state(float* state, const float* prev, int64_t U) {
    for (int64_t u = 0; u < U; ++u) state[u] = at(prev, u);
}

// Backward of a masked step, unit j: the state passed through unchanged, so its gradient goes
// on to the step before, plus the output's gradient when the output was that state (dy, null
// when it was a constant); no gradient reaches the step's gates dz (and dq: GRU), ng of them.
KCC_HD void masked_step_backward_at(float* dh, const float* dy, float* dz, float* dq, int ng,
                                    int64_t U, int64_t j) {
    if (dy) dh[j] += dy[j];
    for (int g = 0; g < ng; ++g) {
        dz[g * U + j] = 0.0f;
        if (dq) dq[g * U + j] = 0.0f;
    }
}

KCC_HD void masked_step_backward(float* dh, const float* dy, float* dz, float* dq, int ng,
                                 int64_t U) {
    for (int64_t j = 0; j < U; ++j) masked_step_backward_at(dh, dy, dz, dq, ng, U, j);
}

// ---- LSTM ----------------------------------------------------------------------------------
// One unit. In: i f g o pre-activations (bias included). Out: activations, c, h.
template <class A, class RA>
KCC_HD void lstm_unit(float& i, float& f, float& g, float& o, float c_prev, float& c, float& h) {
    i = RA::f(i);
    f = RA::f(f);
    g = A::f(g);
    o = RA::f(o);
    c = f * c_prev + i * g;
    h = o * A::f(c);
}

// One unit backward. In: activations i f g o, the cells, dh (all of it: from the output and
// from step t+1) and dc (from step t+1). Out: pre-activation gradients, dc for c_prev.
template <class A, class RA>
KCC_HD void lstm_unit_backward(float& i, float& f, float& g, float& o, float c_prev, float c,
                               float dh, float& dc) {
    const float a = A::f(c);
    const float dct = dc + dh * o * A::df(a);
    const float di = dct * g, df = dct * c_prev, dg = dct * i, d_o = dh * a;
    dc = dct * f;
    i = di * RA::df(i);
    f = df * RA::df(f);
    g = dg * A::df(g);
    o = d_o * RA::df(o);
}

// Row functions come in pairs: `<name>_at(..., j)` is the work of one unit j of the row (what
// one CUDA thread does, templates/layers/recurrent.cu.j2), `<name>(...)` loops it over the U
// units (the CPU). A unit j owns z[j], z[U + j], ... (every gate slice at j) and the j-th
// element of c / h / q / rh / dh / dc, so the units of a row are independent.
// The `_at` parameters carry no KCC_RESTRICT on purpose: once inlined, a callee's restrict
// scope replaces the row's, and GCC then no longer vectorizes the row loop (4x slower).

// z: (G = 4U) one row of x W + h_prev R, in place -> activations.
template <class A, class RA>
KCC_HD void lstm_row_at(float* z, const float* b, const float* c_prev, float* c, float* h,
                        int64_t U, int64_t j) {
    float zi = z[j] + at(b, j), zf = z[U + j] + at(b, U + j);
    float zg = z[2 * U + j] + at(b, 2 * U + j), zo = z[3 * U + j] + at(b, 3 * U + j);
    lstm_unit<A, RA>(zi, zf, zg, zo, at(c_prev, j), c[j], h[j]);
    z[j] = zi; z[U + j] = zf; z[2 * U + j] = zg; z[3 * U + j] = zo;
}
template <class A, class RA>
KCC_HD void lstm_row(float* KCC_RESTRICT z, const float* KCC_RESTRICT b,
                     const float* KCC_RESTRICT c_prev, float* KCC_RESTRICT c,
                     float* KCC_RESTRICT h, int64_t U) {
    for (int64_t j = 0; j < U; ++j) lstm_row_at<A, RA>(z, b, c_prev, c, h, U, j);
}

// dh: (U) on entry the gradient from step t+1 (dy, when not null, is added); dc likewise,
// on exit the gradient for c_prev. z: activations in, pre-activation gradients out.
template <class A, class RA>
KCC_HD void lstm_row_backward_at(float* z, const float* c_prev, const float* c, const float* dh,
                                 const float* dy, float* dc, int64_t U, int64_t j) {
    float i = z[j], f = z[U + j], g = z[2 * U + j], o = z[3 * U + j];
    lstm_unit_backward<A, RA>(i, f, g, o, at(c_prev, j), c[j], dh[j] + at(dy, j), dc[j]);
    z[j] = i; z[U + j] = f; z[2 * U + j] = g; z[3 * U + j] = o;
}
template <class A, class RA>
KCC_HD void lstm_row_backward(float* KCC_RESTRICT z, const float* KCC_RESTRICT c_prev,
                              const float* KCC_RESTRICT c, const float* KCC_RESTRICT dh,
                              const float* KCC_RESTRICT dy, float* KCC_RESTRICT dc, int64_t U) {
    for (int64_t j = 0; j < U; ++j) lstm_row_backward_at<A, RA>(z, c_prev, c, dh, dy, dc, U, j);
}

// ---- GRU, reset_after (Keras 3) ------------------------------------------------------------
// z: (3U) row of x W, in place -> activations z r hh. q: (3U) row of h_prev R (ignored when
// h_prev is null), in place -> h_prev R + b_rec (the backward needs q_h).
template <class A, class RA>
KCC_HD void gru_row_at(float* z, float* q, const float* b_in, const float* b_rec,
                       const float* h_prev, float* h, int64_t U, int64_t j) {
    const float qz = (h_prev ? q[j] : 0.0f) + at(b_rec, j);
    const float qr = (h_prev ? q[U + j] : 0.0f) + at(b_rec, U + j);
    const float qh = (h_prev ? q[2 * U + j] : 0.0f) + at(b_rec, 2 * U + j);
    q[j] = qz; q[U + j] = qr; q[2 * U + j] = qh;
    const float zz = RA::f(z[j] + at(b_in, j) + qz);
    const float r = RA::f(z[U + j] + at(b_in, U + j) + qr);
    const float hh = A::f(z[2 * U + j] + at(b_in, 2 * U + j) + r * qh);
    const float hp = at(h_prev, j);
    h[j] = zz * hp + (1.0f - zz) * hh;
    z[j] = zz; z[U + j] = r; z[2 * U + j] = hh;
}
template <class A, class RA>
KCC_HD void gru_row(float* KCC_RESTRICT z, float* KCC_RESTRICT q, const float* KCC_RESTRICT b_in,
                    const float* KCC_RESTRICT b_rec, const float* KCC_RESTRICT h_prev,
                    float* KCC_RESTRICT h, int64_t U) {
    for (int64_t j = 0; j < U; ++j) gru_row_at<A, RA>(z, q, b_in, b_rec, h_prev, h, U, j);
}

// z: activations in, d(x-side pre-activations) out. q: saved q in, d(q) out (the gradient
// of h_prev R + b_rec). dh: gradient from step t+1, in place -> its direct part for h_prev
// (dh z); the caller adds d(q) R^T.
template <class A, class RA>
KCC_HD void gru_row_backward_at(float* z, float* q, const float* h_prev, float* dh,
                                const float* dy, int64_t U, int64_t j) {
    const float zz = z[j], r = z[U + j], hh = z[2 * U + j], hp = at(h_prev, j);
    const float d = dh[j] + at(dy, j);
    const float dz = d * (hp - hh) * RA::df(zz);
    const float dhh = d * (1.0f - zz) * A::df(hh);
    const float dr = dhh * q[2 * U + j] * RA::df(r);
    dh[j] = d * zz;
    z[j] = dz; z[U + j] = dr; z[2 * U + j] = dhh;
    q[j] = dz; q[U + j] = dr; q[2 * U + j] = dhh * r;
}
template <class A, class RA>
KCC_HD void gru_row_backward(float* KCC_RESTRICT z, float* KCC_RESTRICT q,
                             const float* KCC_RESTRICT h_prev, float* KCC_RESTRICT dh,
                             const float* KCC_RESTRICT dy, int64_t U) {
    for (int64_t j = 0; j < U; ++j) gru_row_backward_at<A, RA>(z, q, h_prev, dh, dy, U, j);
}

// ---- GRU, reset_before (Keras 2's reset_after=False) ---------------------------------------
// Two halves around the GEMM (r h_prev) R_h. First: z[0:2U] holds x W + h_prev R_zr,
// -> z, r activations; rh = r h_prev (zero at step 0).
template <class RA>
KCC_HD void gru_before_row_gates_at(float* z, const float* b, const float* h_prev, float* rh,
                                    int64_t U, int64_t j) {
    z[j] = RA::f(z[j] + at(b, j));
    const float r = RA::f(z[U + j] + at(b, U + j));
    z[U + j] = r;
    rh[j] = r * at(h_prev, j);
}
template <class RA>
KCC_HD void gru_before_row_gates(float* KCC_RESTRICT z, const float* KCC_RESTRICT b,
                                 const float* KCC_RESTRICT h_prev, float* KCC_RESTRICT rh,
                                 int64_t U) {
    for (int64_t j = 0; j < U; ++j) gru_before_row_gates_at<RA>(z, b, h_prev, rh, U, j);
}
// Second: z[2U:3U] holds x_h + rh R_h -> hh; h = z h_prev + (1 - z) hh.
template <class A>
KCC_HD void gru_before_row_state_at(float* z, const float* b, const float* h_prev, float* h,
                                    int64_t U, int64_t j) {
    const float hh = A::f(z[2 * U + j] + at(b, 2 * U + j));
    const float zz = z[j];
    h[j] = zz * at(h_prev, j) + (1.0f - zz) * hh;
    z[2 * U + j] = hh;
}
template <class A>
KCC_HD void gru_before_row_state(float* KCC_RESTRICT z, const float* KCC_RESTRICT b,
                                 const float* KCC_RESTRICT h_prev, float* KCC_RESTRICT h,
                                 int64_t U) {
    for (int64_t j = 0; j < U; ++j) gru_before_row_state_at<A>(z, b, h_prev, h, U, j);
}
// Backward, first half: dz, dhh (pre-activation) into z; dh -> its direct part dh z.
// The caller then computes drh = dhh R_h^T.
template <class A, class RA>
KCC_HD void gru_before_row_backward_state_at(float* z, const float* h_prev, float* dh,
                                             const float* dy, int64_t U, int64_t j) {
    const float zz = z[j], hh = z[2 * U + j];
    const float d = dh[j] + at(dy, j);
    z[j] = d * (at(h_prev, j) - hh) * RA::df(zz);
    z[2 * U + j] = d * (1.0f - zz) * A::df(hh);
    dh[j] = d * zz;
}
template <class A, class RA>
KCC_HD void gru_before_row_backward_state(float* KCC_RESTRICT z, const float* KCC_RESTRICT h_prev,
                                          float* KCC_RESTRICT dh, const float* KCC_RESTRICT dy,
                                          int64_t U) {
    for (int64_t j = 0; j < U; ++j) gru_before_row_backward_state_at<A, RA>(z, h_prev, dh, dy, U, j);
}
// Second half: dr from drh (null at step 0: r did not matter), dh += drh r.
template <class RA>
KCC_HD void gru_before_row_backward_gates_at(float* z, const float* h_prev, const float* drh,
                                             float* dh, int64_t U, int64_t j) {
    const float r = z[U + j];
    if (!h_prev) { z[U + j] = 0.0f; return; }
    z[U + j] = drh[j] * h_prev[j] * RA::df(r);
    dh[j] += drh[j] * r;
}
template <class RA>
KCC_HD void gru_before_row_backward_gates(float* KCC_RESTRICT z, const float* KCC_RESTRICT h_prev,
                                          const float* KCC_RESTRICT drh, float* KCC_RESTRICT dh,
                                          int64_t U) {
    for (int64_t j = 0; j < U; ++j) gru_before_row_backward_gates_at<RA>(z, h_prev, drh, dh, U, j);
}

// ---- SimpleRNN -----------------------------------------------------------------------------
// z: (U) x W + h_prev R, in place -> h = A(z + b), which is also written to `h`.
template <class A>
KCC_HD void simple_row_at(float* z, const float* b, float* h, int64_t j) {
    h[j] = z[j] = A::f(z[j] + at(b, j));
}
template <class A>
KCC_HD void simple_row(float* KCC_RESTRICT z, const float* KCC_RESTRICT b,
                       float* KCC_RESTRICT h, int64_t U) {
    for (int64_t j = 0; j < U; ++j) simple_row_at<A>(z, b, h, j);
}
// z: the state h in, the pre-activation gradient out.
template <class A>
KCC_HD void simple_row_backward_at(float* z, const float* dh, const float* dy, int64_t j) {
    z[j] = (dh[j] + at(dy, j)) * A::df(z[j]);
}
template <class A>
KCC_HD void simple_row_backward(float* KCC_RESTRICT z, const float* KCC_RESTRICT dh,
                                const float* KCC_RESTRICT dy, int64_t U) {
    for (int64_t j = 0; j < U; ++j) simple_row_backward_at<A>(z, dh, dy, j);
}

}  // namespace rnn
}  // namespace kcc

#endif  // KCC_OPS_RECURRENT_H
