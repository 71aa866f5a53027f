// kcc/ops/attention.h: the two pieces of dot-product attention that no other op has, shared
// by the CPU and CUDA templates (Attention and MultiHeadAttention lower onto them and onto
// Dense, Dropout).
//
// matmul: a batch of G products per sample, C[g] (M x N) = A[g] (M x K) B[g] (K x N), each
// operand read through a Layout, so a head's slice of a projection (T, H, d) is used where
// it lies: no transpose copies. Its gradients are products of the same kind:
//   dA[g] = dC[g] B[g]^T,  dB[g] = A[g]^T dC[g]   (a transpose swaps a layout's row and col)
//
// softmax_row: one row of scores s (d floats: one query against every key) to probabilities
//   p_j = e^(z_j - m) / sum_{k < a} e^(z_k - m),  z_j = scale s_j,  j < a;  p_j = 0, j >= a
// where a is the row's allowed keys (all d, or i + 1 under a causal mask for query i, as
// Keras's lower-triangular mask; Keras subtracts 1e9 from the masked scores, whose
// exponential is exactly 0 in float32, so the masked p are 0 there too). Backward:
//   dz_j = p_j (dp_j - sum_k dp_k p_k),  ds_j = scale dz_j,  d scale = sum_j dz_j s_j
// (masked j have p_j = 0, so dz_j = 0: the mask needs no second look).
#ifndef KCC_OPS_ATTENTION_H
#define KCC_OPS_ATTENTION_H

#include <stdint.h>
#include "kcc/common.h"
#include "kcc/ops/activations.h"

namespace kcc {
namespace attention {

// Element (g, r, c) of one sample's operand lies at g * group + r * row + c * col.
struct Layout {
    int64_t group, row, col;
};

KCC_HD Layout transposed(Layout l) { return Layout{l.group, l.col, l.row}; }

// (A[g] B[g])_ij, summed over k in order (the CPU and the GPU add alike).
KCC_HD float matmul_element(const float* a, Layout la, const float* b, Layout lb, int64_t g, int64_t i,
                            int64_t j, int64_t K) {
    const float* ar = a + g * la.group + i * la.row;
    const float* bc = b + g * lb.group + j * lb.col;
    float acc = 0.0f;
    for (int64_t k = 0; k < K; ++k) acc += ar[k * la.col] * bc[k * lb.row];
    return acc;
}

// Element e of a sample's G x M x N products, e = (g M + i) N + j, written (or added) at
// its place in C's layout.
KCC_HD void matmul_store(float* c, Layout lc, const float* a, Layout la, const float* b, Layout lb,
                         int64_t e, int64_t M, int64_t N, int64_t K, bool accumulate) {
    const int64_t j = e % N, i = e / N % M, g = e / N / M;
    const float v = matmul_element(a, la, b, lb, g, i, j, K);
    float& out = c[g * lc.group + i * lc.row + j * lc.col];
    out = accumulate ? out + v : v;
}

// The first a scores of a row, scaled, to probabilities; the rest of the row to 0.
KCC_HD void softmax_row(float* p, const float* s, int64_t d, int64_t a, float scale) {
    float m = scale * s[0];
    for (int64_t j = 1; j < a; ++j) m = fmaxf(m, scale * s[j]);
    float sum = 0.0f;
    for (int64_t j = 0; j < a; ++j) { p[j] = act::fast_exp(scale * s[j] - m); sum += p[j]; }
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < a; ++j) p[j] *= inv;
    for (int64_t j = a; j < d; ++j) p[j] = 0.0f;
}

// ds (= or += per `accumulate`; null when s needs no gradient) from dp; returns the row's
// sum_j dz_j s_j, its part of the gradient of the scale.
KCC_HD float softmax_row_backward(float* ds, const float* dp, const float* p, const float* s, int64_t d,
                                  float scale, bool accumulate) {
    float dot = 0.0f;
    for (int64_t j = 0; j < d; ++j) dot += dp[j] * p[j];
    float dscale = 0.0f;
    for (int64_t j = 0; j < d; ++j) {
        const float dz = p[j] * (dp[j] - dot);
        dscale += dz * s[j];
        if (ds) ds[j] = accumulate ? ds[j] + scale * dz : scale * dz;
    }
    return dscale;
}

// Keys row r may attend to: query i = r % tq sees keys 0..i under the causal mask.
KCC_HD int64_t allowed(int64_t r, int64_t tq, int64_t d, bool causal) {
    if (!causal) return d;
    const int64_t i = r % tq + 1;
    return i < d ? i : d;
}

}  // namespace attention
}  // namespace kcc

#endif  // KCC_OPS_ATTENTION_H
