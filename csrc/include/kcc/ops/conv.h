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
// The CPU moves whole rows (move_cf / move_cl); the CUDA unit computes one element per
// thread with the KCC_HD functions below (tap: one im2col element; gather: col2im for one
// element of dx, summing instead of scattering so no two threads write one float). Both
// take their indices from in_row / in_col.
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

// The input row (column) that output row oh (column ow) reads at kernel tap i (j): in the
// padding when outside [0, H) ([0, W)).
KCC_HD int64_t in_row(const Geometry& g, int64_t oh, int64_t i) { return oh * g.SH - g.PT + i * g.DH; }
KCC_HD int64_t in_col(const Geometry& g, int64_t ow, int64_t j) { return ow * g.SW - g.PL + j * g.DW; }

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
        const int64_t shift = in_col(g, 0, j);       // input col = ow*SW + shift
        for (int64_t c = 0; c < g.C; ++c) {
            float* KCC_RESTRICT row = cols + ((i * g.KW + j) * g.C + c) * P;
            float* KCC_RESTRICT xc = x + c * g.H * g.W;
            for (int64_t oh = r0; oh < r1; ++oh) {
                float* KCC_RESTRICT d = row + (oh - r0) * g.Wo;
                const int64_t ih = in_row(g, oh, i);
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
        const int64_t iw0 = in_col(g, ow, 0);
        // dilation 1 and the window inside the image: the KW taps of a kernel row are
        // KW*C consecutive floats of x
        const bool inside = g.DW == 1 && iw0 >= 0 && iw0 + g.KW <= g.W;
        for (int64_t i = 0; i < g.KH; ++i) {
            float* KCC_RESTRICT di = d + i * g.KW * C;
            const int64_t ih = in_row(g, oh, i);
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
                const int64_t iw = in_col(g, ow, j);
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

// ---- one element at a time (the CUDA kernels) --------------------------------------------
// A band's cols hold P = (r1 - r0) * Wo pixels, p = (oh - r0) * Wo + ow, and K taps,
// k = (i * KW + j) * C + c: channels_last (P, K), channels_first (K, P).

// Offset of (c, h, w) in one sample of x.
template <bool CL>
KCC_HD int64_t x_at(const Geometry& g, int64_t c, int64_t h, int64_t w) {
    return CL ? (h * g.W + w) * g.C + c : (c * g.H + h) * g.W + w;
}

// Offset of (pixel p, tap k) in a band's cols of P pixels.
template <bool CL>
KCC_HD int64_t col_at(const Geometry& g, int64_t P, int64_t p, int64_t k) {
    return CL ? p * (g.KH * g.KW * g.C) + k : k * P + p;
}

// One im2col element: x at tap k of output pixel (oh, ow), 0 in the padding.
template <bool CL>
KCC_HD float tap(const float* x, const Geometry& g, int64_t oh, int64_t ow, int64_t k) {
    const int64_t c = k % g.C, i = k / g.C / g.KW, j = k / g.C % g.KW;
    const int64_t h = in_row(g, oh, i), w = in_col(g, ow, j);
    return (h < 0 || h >= g.H || w < 0 || w >= g.W) ? 0.0f : x[x_at<CL>(g, c, h, w)];
}

// The output row (column) o in [lo, hi) whose tap t reads input row (column) h, i.e.
// o*S - P + t*D == h, or -1 when there is none (the inverse of in_row / in_col).
KCC_HD int64_t reader(int64_t h, int64_t t, int64_t P, int64_t S, int64_t D, int64_t lo, int64_t hi) {
    const int64_t num = h + P - t * D;
    if (num < 0 || num % S != 0) return -1;
    const int64_t o = num / S;
    return o >= lo && o < hi ? o : -1;
}

// col2im for one element (c, h, w) of dx: the sum of the band's cols gradient over every
// (tap, output pixel of rows [r0, r1)) that reads it, taps in (i, j) order.
template <bool CL>
KCC_HD float gather(const float* cols, const Geometry& g, int64_t r0, int64_t r1, int64_t c,
                    int64_t h, int64_t w, int64_t ld = 0) {
    // ld: distance between two taps' rows of channels-first cols (default: the band's P
    // pixels; the CUDA unit lays a whole batch's cols side by side, ld = n * P)
    const int64_t P = ld ? ld : (r1 - r0) * g.Wo;
    float s = 0.0f;
    for (int64_t i = 0; i < g.KH; ++i) {
        const int64_t oh = reader(h, i, g.PT, g.SH, g.DH, r0, r1);
        if (oh < 0) continue;
        for (int64_t j = 0; j < g.KW; ++j) {
            const int64_t ow = reader(w, j, g.PL, g.SW, g.DW, 0, g.Wo);
            if (ow < 0) continue;
            s += cols[col_at<CL>(g, P, (oh - r0) * g.Wo + ow, (i * g.KW + j) * g.C + c)];
        }
    }
    return s;
}

// The input rows [*lo, *hi) that output rows [r0, r1) read (clipped to the image).
KCC_HD void rows_read(const Geometry& g, int64_t r0, int64_t r1, int64_t* lo, int64_t* hi) {
    const int64_t a = in_row(g, r0, 0), b = in_row(g, r1 - 1, g.KH - 1) + 1;
    *lo = a < 0 ? 0 : a;
    *hi = b > g.H ? g.H : b;
    if (*hi < *lo) *hi = *lo;
}

// ---- shifted-GEMM convolution: channels_first, stride 1, dilation 1, no im2col -----------------
//
// With stride 1, output row oh of tap (i, j) reads input row oh + i - PT from column j - PL:
// so once the input sits in a zero-padded plane per channel (xp: C x Hp x Wp, Hp = Ho + KH - 1,
// Wp = Wo + KW - 1), tap (i, j) of a band of output rows is ONE GEMM whose B operand is xp
// itself, read from row r0 + i, column j, with rows Hp * Wp apart:
//     wide (F x TB*Wp) += W_ij^T (F x C) . xp[:, (r0 + i) * Wp + j ...]
// W_ij is rows (i*KW + j)*C .. +C of Keras's (KH*KW*C, F) kernel, transposed by the GEMM.
// Each output row is computed Wp wide; its last KW - 1 columns are scratch, dropped when the
// band is written out (with the bias and activation). No im2col copy: measured 1.6x faster
// than im2col + GEMM on a 64 -> 64 3x3 layer at 224x224 (2 threads, this machine).

// Padded-plane geometry of a shifted conv.
KCC_HD int64_t padded_rows(const Geometry& g) { return g.Ho + g.KH - 1; }
KCC_HD int64_t padded_cols(const Geometry& g) { return g.Wo + g.KW - 1; }

// xp (C, Hp, Wp) = x placed at (PT, PL), zeros around it; plus KW floats of slack after the
// last plane (the wide rows of the last band read up to KW - 1 floats past it).
inline void pad_cf(float* KCC_RESTRICT xp, const float* KCC_RESTRICT x, const Geometry& g) {
    const int64_t Hp = padded_rows(g), Wp = padded_cols(g);
    memset(xp, 0, sizeof(float) * (size_t)(g.C * Hp * Wp + g.KW));
    for (int64_t c = 0; c < g.C; ++c)
        for (int64_t h = 0; h < g.H; ++h) {
            const int64_t ph = h + g.PT;
            if (ph < 0 || ph >= Hp) continue;
            const int64_t w0 = g.PL < 0 ? -g.PL : 0, w1 = g.W < Wp - g.PL ? g.W : Wp - g.PL;
            if (w1 > w0)
                memcpy(xp + (c * Hp + ph) * Wp + g.PL + w0, x + (c * g.H + h) * g.W + w0,
                       sizeof(float) * (size_t)(w1 - w0));
        }
}

// y rows [r0, r0 + rows) of every filter (ld floats between filters) = act(wide + b[f]), the
// first Wo columns of each Wp-wide row.
template <class Act>
inline void crop_bias_act_cf(float* KCC_RESTRICT y, const float* KCC_RESTRICT wide,
                             const float* KCC_RESTRICT b, const Geometry& g, int64_t r0, int64_t rows,
                             int64_t ld) {
    const int64_t Wp = padded_cols(g);
    for (int64_t f = 0; f < g.F; ++f) {
        const float bf = b ? b[f] : 0.0f;
        for (int64_t r = 0; r < rows; ++r) {
            const float* KCC_RESTRICT src = wide + (f * rows + r) * Wp;
            float* KCC_RESTRICT dst = y + f * ld + (r0 + r) * g.Wo;
            for (int64_t w = 0; w < g.Wo; ++w) dst[w] = Act::f(src[w] + bf);
        }
    }
}

// ---- grouped convolution (Conv2D groups, DepthwiseConv2D): direct, one value at a time --------
//
// G groups: input channel c is in group c / Cg (Cg = C / G), filter f in group f / Fg
// (Fg = F / G), and each filter reads its group's Cg channels only. W is Keras's
// (KH, KW, Cg, F) kernel; DepthwiseConv2D's (KH, KW, C, M) kernel is the same memory with
// G = C, Cg = 1, F = C * M (filter c * M + m reads channel c). Each function computes one
// value as a sum, so the CPU loops and the CUDA threads (one value each, no atomics) share
// them: a group's reduction is Cg * KH * KW long, too short for a GEMM to pay off.

// Offset of (f, oh, ow) in one sample of y (or dz).
template <bool CL>
KCC_HD int64_t y_at(const Geometry& g, int64_t f, int64_t oh, int64_t ow) {
    return CL ? (oh * g.Wo + ow) * g.F + f : (f * g.Ho + oh) * g.Wo + ow;
}

// z (before bias and activation) of filter f at output pixel (oh, ow), one sample's x.
template <bool CL>
KCC_HD float grouped_forward(const float* x, const float* W, const Geometry& g, int64_t Cg,
                             int64_t Fg, int64_t f, int64_t oh, int64_t ow) {
    const int64_t c0 = f / Fg * Cg;
    float s = 0.0f;
    for (int64_t i = 0; i < g.KH; ++i) {
        const int64_t h = in_row(g, oh, i);
        if (h < 0 || h >= g.H) continue;
        for (int64_t j = 0; j < g.KW; ++j) {
            const int64_t w = in_col(g, ow, j);
            if (w < 0 || w >= g.W) continue;
            const float* wt = W + (i * g.KW + j) * Cg * g.F + f;
            for (int64_t cg = 0; cg < Cg; ++cg) s += x[x_at<CL>(g, c0 + cg, h, w)] * wt[cg * g.F];
        }
    }
    return s;
}

// The C++ unit's channels_last forward: the F values of output pixel (oh, ow) (yr, zeroed by
// the caller) accumulated tap by tap, each tap a pass along the contiguous filters (and, for
// a depthwise conv, contiguous channels), which vectorizes; each value sums the same terms
// in the same order as grouped_forward.
inline void grouped_pixel_cl(float* KCC_RESTRICT yr, const float* KCC_RESTRICT x,
                             const float* KCC_RESTRICT W, const Geometry& g, int64_t Cg,
                             int64_t Fg, int64_t oh, int64_t ow) {
    for (int64_t i = 0; i < g.KH; ++i) {
        const int64_t h = in_row(g, oh, i);
        if (h < 0 || h >= g.H) continue;
        for (int64_t j = 0; j < g.KW; ++j) {
            const int64_t w = in_col(g, ow, j);
            if (w < 0 || w >= g.W) continue;
            const float* KCC_RESTRICT xr = x + (h * g.W + w) * g.C;
            const float* KCC_RESTRICT wt = W + (i * g.KW + j) * Cg * g.F;
            for (int64_t cg = 0; cg < Cg; ++cg)
                for (int64_t f = 0; f < g.F; ++f) yr[f] += xr[f / Fg * Cg + cg] * wt[cg * g.F + f];
        }
    }
}

// dx at (c, h, w) of one sample: dz of every output of c's group that reads it, times the tap.
template <bool CL>
KCC_HD float grouped_dx(const float* dz, const float* W, const Geometry& g, int64_t Cg, int64_t Fg,
                        int64_t c, int64_t h, int64_t w) {
    const int64_t f0 = c / Cg * Fg, cg = c % Cg;
    float s = 0.0f;
    for (int64_t i = 0; i < g.KH; ++i) {
        const int64_t oh = reader(h, i, g.PT, g.SH, g.DH, 0, g.Ho);
        if (oh < 0) continue;
        for (int64_t j = 0; j < g.KW; ++j) {
            const int64_t ow = reader(w, j, g.PL, g.SW, g.DW, 0, g.Wo);
            if (ow < 0) continue;
            const float* wt = W + ((i * g.KW + j) * Cg + cg) * g.F;
            for (int64_t f = f0; f < f0 + Fg; ++f) s += dz[y_at<CL>(g, f, oh, ow)] * wt[f];
        }
    }
    return s;
}

// dW at tap (i, j), group channel cg, filter f: summed over the n samples (xs, zs floats
// apart) and the output pixels, in that order.
template <bool CL>
KCC_HD float grouped_dw(const float* x, const float* dz, const Geometry& g, int64_t Cg, int64_t Fg,
                        int64_t n, int64_t xs, int64_t zs, int64_t i, int64_t j, int64_t cg,
                        int64_t f) {
    const int64_t c = f / Fg * Cg + cg;
    float s = 0.0f;
    for (int64_t k = 0; k < n; ++k)
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
            const int64_t h = in_row(g, oh, i);
            if (h < 0 || h >= g.H) continue;
            for (int64_t ow = 0; ow < g.Wo; ++ow) {
                const int64_t w = in_col(g, ow, j);
                if (w < 0 || w >= g.W) continue;
                s += x[k * xs + x_at<CL>(g, c, h, w)] * dz[k * zs + y_at<CL>(g, f, oh, ow)];
            }
        }
    return s;
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
            // 16 running sums, one vector register: a single float accumulator is a serial
            // chain of additions (the compiler may not reassociate them), 4x slower
            float lanes[16] = {};
            int64_t p = 0;
            for (; p + 16 <= HW; p += 16)
                for (int k = 0; k < 16; ++k) lanes[k] += row[p + k];
            float acc = 0.0f;
            for (int k = 0; k < 16; ++k) acc += lanes[k];
            for (; p < HW; ++p) acc += row[p];
            db[f] += acc;
        }
}

}  // namespace conv
}  // namespace kcc

#endif  // KCC_OPS_CONV_H
