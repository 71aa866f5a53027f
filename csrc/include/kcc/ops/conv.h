// kcc/ops/conv.h: the data movement of Conv2D (the GEMMs are in kcc/gemm.h).
//
// Letters: C input channels, H x W input image, F filters, Ho x Wo output image,
// KH x KW kernel, SH/SW strides, DH/DW dilation, PT/PL padding before (top, left).
// K = KH*KW*C is the reduction length; its order (i, j, c) matches the Keras kernel
// (KH, KW, C, F), so that kernel viewed as (K, F) row-major is the GEMM operand as is.
//
// One sample is processed in bands of output rows [r0, r1), P = (r1 - r0) * Wo pixels:
//   channels_last : cols (P, K)   one row per output pixel       y (P, F)  = cols . W
//   channels_first: cols (K, P)   one row per (i, j, c) tap      y (F, P)  = W^T . cols
// im2col fills a band's cols from x (zeros where the window hangs over the padding);
// col2im is its adjoint: it scatter-adds a cols gradient back into dx.
#ifndef KCC_OPS_CONV_H
#define KCC_OPS_CONV_H

#include <stdint.h>
#include <string.h>
#include "kcc/ops/activations.h"

namespace kcc {
namespace conv {

struct Geometry {
    int64_t C, H, W;        // input image
    int64_t F, Ho, Wo;      // output image
    int64_t KH, KW;         // kernel
    int64_t SH, SW;         // strides
    int64_t DH, DW;         // dilation
    int64_t PT, PL;         // padding before (after is whatever Ho, Wo imply)
};

// The output columns [lo, hi) whose input column ow*S - P + t falls inside [0, W).
inline void valid_range(int64_t t, int64_t P, int64_t S, int64_t W, int64_t Wo, int64_t* lo,
                        int64_t* hi) {
    const int64_t first = P - t;                     // need ow*S >= first
    const int64_t end = W + P - t;                   // need ow*S < end
    int64_t a = first <= 0 ? 0 : (first + S - 1) / S;
    int64_t b = end <= 0 ? 0 : (end + S - 1) / S;
    *lo = a < Wo ? a : Wo;
    *hi = b < Wo ? b : Wo;
    if (*hi < *lo) *hi = *lo;
}

// ---- channels_first: x (C, H, W), cols (K, P) --------------------------------------------

// Gather (Add = false) or its adjoint, scatter-add (Add = true), between x and cols.
template <bool Add>
inline void move_cf(float* x, float* cols, const Geometry& g, int64_t r0, int64_t r1) {
    const int64_t P = (r1 - r0) * g.Wo;
    for (int64_t i = 0; i < g.KH; ++i)
    for (int64_t j = 0; j < g.KW; ++j) {
        int64_t lo, hi;
        valid_range(j * g.DW, g.PL, g.SW, g.W, g.Wo, &lo, &hi);
        const int64_t shift = j * g.DW - g.PL;       // input col = ow*SW + shift
        for (int64_t c = 0; c < g.C; ++c) {
            float* KCC_RESTRICT row = cols + ((i * g.KW + j) * g.C + c) * P;
            float* KCC_RESTRICT xc = x + c * g.H * g.W;
            for (int64_t oh = r0; oh < r1; ++oh) {
                float* KCC_RESTRICT d = row + (oh - r0) * g.Wo;
                const int64_t ih = oh * g.SH - g.PT + i * g.DH;
                if (ih < 0 || ih >= g.H) {
                    if (!Add) memset(d, 0, sizeof(float) * g.Wo);
                    continue;
                }
                float* KCC_RESTRICT src = xc + ih * g.W;     // the input row
                if (!Add) {
                    for (int64_t ow = 0; ow < lo; ++ow) d[ow] = 0.0f;
                    for (int64_t ow = hi; ow < g.Wo; ++ow) d[ow] = 0.0f;
                }
                if (g.SW == 1) {
                    if (Add) for (int64_t ow = lo; ow < hi; ++ow) src[ow + shift] += d[ow];
                    else     memcpy(d + lo, src + lo + shift, sizeof(float) * (hi - lo));
                } else {
                    if (Add) for (int64_t ow = lo; ow < hi; ++ow) src[ow * g.SW + shift] += d[ow];
                    else     for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[ow * g.SW + shift];
                }
            }
        }
    }
}

inline void im2col_cf(float* cols, const float* x, const Geometry& g, int64_t r0, int64_t r1) {
    move_cf<false>(const_cast<float*>(x), cols, g, r0, r1);
}
inline void col2im_cf(float* dx, const float* cols, const Geometry& g, int64_t r0, int64_t r1) {
    move_cf<true>(dx, const_cast<float*>(cols), g, r0, r1);
}

// ---- channels_last: x (H, W, C), cols (P, K) ---------------------------------------------

template <bool Add>
inline void move_cl(float* x, float* cols, const Geometry& g, int64_t r0, int64_t r1) {
    const int64_t C = g.C, K = g.KH * g.KW * C;
    for (int64_t oh = r0; oh < r1; ++oh)
    for (int64_t ow = 0; ow < g.Wo; ++ow) {
        float* KCC_RESTRICT d = cols + ((oh - r0) * g.Wo + ow) * K;
        const int64_t iw0 = ow * g.SW - g.PL;
        // dilation 1 and the window inside the image: the KW taps of a kernel row are
        // KW*C consecutive floats of x
        const bool inside = g.DW == 1 && iw0 >= 0 && iw0 + g.KW <= g.W;
        for (int64_t i = 0; i < g.KH; ++i) {
            float* KCC_RESTRICT di = d + i * g.KW * C;
            const int64_t ih = oh * g.SH - g.PT + i * g.DH;
            if (ih < 0 || ih >= g.H) {
                if (!Add) memset(di, 0, sizeof(float) * g.KW * C);
                continue;
            }
            float* KCC_RESTRICT xr = x + ih * g.W * C;
            if (inside) {
                float* KCC_RESTRICT src = xr + iw0 * C;
                if (Add) for (int64_t t = 0; t < g.KW * C; ++t) src[t] += di[t];
                else     memcpy(di, src, sizeof(float) * g.KW * C);
                continue;
            }
            for (int64_t j = 0; j < g.KW; ++j) {
                const int64_t iw = iw0 + j * g.DW;
                float* KCC_RESTRICT dj = di + j * C;
                if (iw < 0 || iw >= g.W) {
                    if (!Add) memset(dj, 0, sizeof(float) * C);
                } else if (Add) {
                    for (int64_t c = 0; c < C; ++c) xr[iw * C + c] += dj[c];
                } else {
                    memcpy(dj, xr + iw * C, sizeof(float) * C);
                }
            }
        }
    }
}

inline void im2col_cl(float* cols, const float* x, const Geometry& g, int64_t r0, int64_t r1) {
    move_cl<false>(const_cast<float*>(x), cols, g, r0, r1);
}
inline void col2im_cl(float* dx, const float* cols, const Geometry& g, int64_t r0, int64_t r1) {
    move_cl<true>(dx, const_cast<float*>(cols), g, r0, r1);
}

// ---- channels_first epilogues (channels_last reuses kcc::dense, rows = pixels) ---------------

// y: F rows of `len` values, `ld` apart, holding z on entry; y = act(z + b[f]). b may be null.
template <class Act>
inline void bias_act_cf(float* KCC_RESTRICT y, const float* KCC_RESTRICT b, int64_t F,
                        int64_t len, int64_t ld) {
    for (int64_t f = 0; f < F; ++f) {
        float* KCC_RESTRICT row = y + f * ld;
        const float bf = b ? b[f] : 0.0f;
        for (int64_t p = 0; p < len; ++p) row[p] = Act::f(row[p] + bf);
    }
}

// db[f] (+)= sum over samples and pixels of dz (n, F, HW).
inline void bias_grad_cf(float* KCC_RESTRICT db, const float* KCC_RESTRICT dz, int64_t n,
                         int64_t F, int64_t HW, bool accumulate, int64_t sample_stride = 0) {
    // sample_stride: floats between samples (wider than F * HW when dz is a slice of a concat)
    sample_stride = sample_stride ? sample_stride : F * HW;
    if (!accumulate) for (int64_t f = 0; f < F; ++f) db[f] = 0.0f;
    for (int64_t s = 0; s < n; ++s)
        for (int64_t f = 0; f < F; ++f) {
            const float* KCC_RESTRICT row = dz + s * sample_stride + f * HW;
            float acc = 0.0f;
            for (int64_t p = 0; p < HW; ++p) acc += row[p];
            db[f] += acc;
        }
}

}  // namespace conv
}  // namespace kcc

#endif  // KCC_OPS_CONV_H
