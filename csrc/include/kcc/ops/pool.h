// kcc/ops/pool.h: 2D max and average pooling over windows, per sample.
//
// A sample is an image of H x W pixels and C channels, stored channels-last (H, W, C) or
// channels-first (C, H, W): the template argument CL picks the index map. Output pixel
// (oh, ow) reads the window of KH x KW input pixels starting at (oh * SH - PT, ow * SW - PL),
// clipped to the image: padding ('same') is never read, so
//
//   max:  y = the max over the window's pixels inside the image
//         dx[the FIRST pixel holding the max, in row-major window order] += dy
//   avg:  y = the mean over the window's pixels inside the image (Keras's 'same' average
//         divides by that count, not by KH * KW)
//         dx[every pixel inside the window] += dy / count
//
// Every window holds at least one pixel of the image ('valid' windows lie inside it; a
// 'same' window starts at most KH - 1 rows before it and never after its last row).
// Global pooling is the window (KH, KW) = (H, W) with one output pixel.
//
// Max pooling keeps nothing for backward: it finds the argmax again from x, with the same
// comparison as the forward (strict >, so ties and NaNs resolve the same way both times).
// Backward writes dx (= or += per `accumulate`, decided by the memory plan), never dy.
#ifndef KCC_OPS_POOL_H
#define KCC_OPS_POOL_H

#include <stdint.h>
#include <string.h>
#include "kcc/common.h"
#include "kcc/ops/merge.h"   // merge::Greater: the max rule, NaN included

namespace kcc {
namespace pool {

struct Geom {
    int64_t H, W, C;      // input image
    int64_t OH, OW;       // output image (same C)
    int64_t KH, KW;       // window
    int64_t SH, SW;       // strides
    int64_t PT, PL;       // padding before the first row / column ('same'), else 0
    KCC_HD int64_t in_size() const { return H * W * C; }
    KCC_HD int64_t out_size() const { return OH * OW * C; }
};

// Offset of (h, w, c) in one sample of `rows` x `cols` pixels.
template <bool CL>
KCC_HD int64_t at(int64_t h, int64_t w, int64_t c, int64_t rows, int64_t cols, int64_t C) {
    return CL ? (h * cols + w) * C + c : (c * rows + h) * cols + w;
}

// The window of output pixel (oh, ow), clipped to the image: rows [h0, h1), cols [w0, w1).
struct Window { int64_t h0, h1, w0, w1; };

KCC_HD Window window(const Geom& g, int64_t oh, int64_t ow) {
    const int64_t h = oh * g.SH - g.PT, w = ow * g.SW - g.PL;
    Window r;
    r.h0 = h < 0 ? 0 : h;
    r.w0 = w < 0 ? 0 : w;
    r.h1 = h + g.KH > g.H ? g.H : h + g.KH;
    r.w1 = w + g.KW > g.W ? g.W : w + g.KW;
    return r;
}

// Offset in the sample of the first pixel of window `r` holding its max in channel c.
template <bool CL>
KCC_HD int64_t argmax(const float* x, const Geom& g, const Window& r, int64_t c) {
    int64_t best = at<CL>(r.h0, r.w0, c, g.H, g.W, g.C);
    float m = x[best];
    for (int64_t h = r.h0; h < r.h1; ++h)
        for (int64_t w = r.w0; w < r.w1; ++w) {
            const int64_t k = at<CL>(h, w, c, g.H, g.W, g.C);
            if (merge::Greater::better(x[k], m)) { m = x[k]; best = k; }
        }
    return best;
}

// 1 / the number of pixels of window r: the average's scale.
KCC_HD float window_scale(const Window& r) { return 1.0f / (float)((r.h1 - r.h0) * (r.w1 - r.w0)); }

// The mean of window r in channel c: summed in row-major window order, then scaled.
template <bool CL>
KCC_HD float window_mean(const float* x, const Geom& g, const Window& r, int64_t c) {
    float s = 0.0f;
    for (int64_t h = r.h0; h < r.h1; ++h)
        for (int64_t w = r.w0; w < r.w1; ++w) s += x[at<CL>(h, w, c, g.H, g.W, g.C)];
    return s * window_scale(r);
}

// ---- one element at a time (the CUDA kernels) --------------------------------------------

// The inverse of at<CL>: (h, w, c) of offset o in a sample of rows x cols pixels.
template <bool CL>
KCC_HD void coords(int64_t o, int64_t rows, int64_t cols, int64_t C, int64_t* h, int64_t* w,
                   int64_t* c) {
    if (CL) { *c = o % C; *w = o / C % cols; *h = o / C / cols; }
    else    { *w = o % cols; *h = o / cols % rows; *c = o / cols / rows; }
}

// The output rows (or columns) [*lo, *hi) whose window, starting at o*S - P and K long,
// covers input row h (clipping a window to the image never uncovers an image pixel).
KCC_HD void covering(int64_t h, int64_t P, int64_t K, int64_t S, int64_t O, int64_t* lo,
                     int64_t* hi) {
    const int64_t a = h + P - K + 1, b = h + P;      // need a <= o*S <= b
    const int64_t l = a <= 0 ? 0 : (a + S - 1) / S, e = b < 0 ? 0 : b / S + 1;
    *lo = l < O ? l : O;
    *hi = e < O ? e : O;
    if (*hi < *lo) *hi = *lo;
}

// Backward as a gather, for one element (h, w, c) of dx: `acc` (0, or dx's old value) plus
// the dy of every window it gets gradient from, in the (oh, ow) order the CPU's scatter adds
// them. Max: the windows whose argmax it is; average: every window covering it, scaled.
template <bool CL, bool Max>
KCC_HD float gather(const float* x, const float* dy, const Geom& g, int64_t h, int64_t w,
                    int64_t c, float acc) {
    int64_t oh0, oh1, ow0, ow1;
    covering(h, g.PT, g.KH, g.SH, g.OH, &oh0, &oh1);
    covering(w, g.PL, g.KW, g.SW, g.OW, &ow0, &ow1);
    const int64_t k = at<CL>(h, w, c, g.H, g.W, g.C);
    for (int64_t oh = oh0; oh < oh1; ++oh)
        for (int64_t ow = ow0; ow < ow1; ++ow) {
            const Window r = window(g, oh, ow);
            const float d = dy[at<CL>(oh, ow, c, g.OH, g.OW, g.C)];
            if (Max) { if (argmax<CL>(x, g, r, c) == k) acc += d; }
            else     acc += d * window_scale(r);
        }
    return acc;
}

// ---- forward ------------------------------------------------------------------------------

// The max of window r in channel c: x[argmax] (the same comparisons, without the index).
template <bool CL>
KCC_HD float window_max(const float* x, const Geom& g, const Window& r, int64_t c) {
    float m = x[at<CL>(r.h0, r.w0, c, g.H, g.W, g.C)];
    for (int64_t h = r.h0; h < r.h1; ++h)
        for (int64_t w = r.w0; w < r.w1; ++w) {
            const float v = x[at<CL>(h, w, c, g.H, g.W, g.C)];
            m = merge::Greater::better(v, m) ? v : m;
        }
    return m;
}

// Whether a channel plane holds a NaN: one vectorized pass (the plane then sits in cache
// for the pooling that follows), so max_row_cf's fast loop can stay the plain max.
inline bool has_nan(const float* KCC_RESTRICT x, int64_t size) {
    int bad = 0;
    for (int64_t k = 0; k < size; ++k) bad |= x[k] != x[k];
    return bad != 0;
}

// Output row oh of channel c, channels-first. The columns whose windows lie inside the
// image share one window shape, a loop over them the compiler vectorizes (the plain max:
// a plane with a NaN goes window by window, by merge::Greater's rule, instead); the
// clipped ones at the edges go one by one.
inline void max_row_cf(float* KCC_RESTRICT ys, const float* KCC_RESTRICT xs, const Geom& g,
                       int64_t c, int64_t oh, bool nan) {
    float* KCC_RESTRICT yr = ys + (c * g.OH + oh) * g.OW;
    const Window rows = window(g, oh, 0);
    int64_t lo = (g.PL + g.SW - 1) / g.SW;                       // first w0 >= 0
    int64_t hi = g.W + g.PL >= g.KW ? (g.W + g.PL - g.KW) / g.SW + 1 : 0;  // w0 + KW <= W
    lo = lo < g.OW ? lo : g.OW;
    hi = hi < g.OW ? hi : g.OW;
    if (hi < lo || nan) hi = lo;
    for (int64_t ow = 0; ow < lo; ++ow) yr[ow] = window_max<false>(xs, g, window(g, oh, ow), c);
    const float* KCC_RESTRICT plane = xs + c * g.H * g.W;
    for (int64_t ow = lo; ow < hi; ++ow) {
        const float* KCC_RESTRICT p = plane + ow * g.SW - g.PL;
        float m = p[rows.h0 * g.W];
        for (int64_t h = rows.h0; h < rows.h1; ++h)
            for (int64_t j = 0; j < g.KW; ++j) {
                const float v = p[h * g.W + j];
                m = v > m ? v : m;
            }
        yr[ow] = m;
    }
    for (int64_t ow = hi; ow < g.OW; ++ow) yr[ow] = window_max<false>(xs, g, window(g, oh, ow), c);
}
// Channels-last images go a pixel at a time, C channels wide; channels-first ones a channel
// plane at a time, so both read memory in order. Every output element is the same
// computation whichever the order.

template <bool CL>
inline void max_forward(float* KCC_RESTRICT y, const float* KCC_RESTRICT x, int64_t n,
                        const Geom& g) {
    for (int64_t i = 0; i < n; ++i) {
        const float* xs = x + i * g.in_size();
        float* ys = y + i * g.out_size();
        if (!CL) {
            for (int64_t c = 0; c < g.C; ++c) {
                const bool nan = has_nan(xs + c * g.H * g.W, g.H * g.W);
                for (int64_t oh = 0; oh < g.OH; ++oh) max_row_cf(ys, xs, g, c, oh, nan);
            }
            continue;
        }
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                // a row of C channels at a time, in the same order as argmax
                const Window r = window(g, oh, ow);
                float* KCC_RESTRICT yp = ys + (oh * g.OW + ow) * g.C;
                memcpy(yp, xs + at<true>(r.h0, r.w0, 0, g.H, g.W, g.C), sizeof(float) * g.C);
                for (int64_t h = r.h0; h < r.h1; ++h)
                    for (int64_t w = r.w0; w < r.w1; ++w) {
                        const float* KCC_RESTRICT xp = xs + at<true>(h, w, 0, g.H, g.W, g.C);
                        for (int64_t c = 0; c < g.C; ++c) yp[c] = merge::Greater::better(xp[c], yp[c]) ? xp[c] : yp[c];
                    }
            }
    }
}

template <bool CL>
inline void avg_forward(float* KCC_RESTRICT y, const float* KCC_RESTRICT x, int64_t n,
                        const Geom& g) {
    for (int64_t i = 0; i < n; ++i) {
        const float* xs = x + i * g.in_size();
        float* ys = y + i * g.out_size();
        if (!CL) {
            for (int64_t c = 0; c < g.C; ++c)
                for (int64_t oh = 0; oh < g.OH; ++oh)
                    for (int64_t ow = 0; ow < g.OW; ++ow)
                        ys[at<false>(oh, ow, c, g.OH, g.OW, g.C)] = window_mean<false>(xs, g, window(g, oh, ow), c);
            continue;
        }
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                const Window r = window(g, oh, ow);
                const float scale = window_scale(r);
                float* KCC_RESTRICT yp = ys + (oh * g.OW + ow) * g.C;
                memset(yp, 0, sizeof(float) * g.C);
                for (int64_t h = r.h0; h < r.h1; ++h)
                    for (int64_t w = r.w0; w < r.w1; ++w) {
                        const float* KCC_RESTRICT xp = xs + at<true>(h, w, 0, g.H, g.W, g.C);
                        for (int64_t c = 0; c < g.C; ++c) yp[c] += xp[c];
                    }
                for (int64_t c = 0; c < g.C; ++c) yp[c] *= scale;
            }
    }
}

// ---- backward -----------------------------------------------------------------------------
// Each dx element receives its windows' gradients in (oh, ow) order, in both layouts.
template <bool CL>
inline void max_backward(float* KCC_RESTRICT dx, const float* KCC_RESTRICT dy,
                         const float* KCC_RESTRICT x, int64_t n, const Geom& g, bool accumulate) {
    if (!accumulate) memset(dx, 0, sizeof(float) * n * g.in_size());
    for (int64_t i = 0; i < n; ++i) {
        const float* xs = x + i * g.in_size();
        float* dxs = dx + i * g.in_size();
        const float* dys = dy + i * g.out_size();
        if (!CL) {
            for (int64_t c = 0; c < g.C; ++c)
                for (int64_t oh = 0; oh < g.OH; ++oh)
                    for (int64_t ow = 0; ow < g.OW; ++ow)
                        dxs[argmax<false>(xs, g, window(g, oh, ow), c)] += dys[at<false>(oh, ow, c, g.OH, g.OW, g.C)];
            continue;
        }
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                const Window r = window(g, oh, ow);
                for (int64_t c = 0; c < g.C; ++c)
                    dxs[argmax<true>(xs, g, r, c)] += dys[at<true>(oh, ow, c, g.OH, g.OW, g.C)];
            }
    }
}

template <bool CL>
inline void avg_backward(float* KCC_RESTRICT dx, const float* KCC_RESTRICT dy, int64_t n,
                         const Geom& g, bool accumulate) {
    if (!accumulate) memset(dx, 0, sizeof(float) * n * g.in_size());
    for (int64_t i = 0; i < n; ++i) {
        float* dxs = dx + i * g.in_size();
        const float* dys = dy + i * g.out_size();
        if (!CL) {
            for (int64_t c = 0; c < g.C; ++c)
                for (int64_t oh = 0; oh < g.OH; ++oh)
                    for (int64_t ow = 0; ow < g.OW; ++ow) {
                        const Window r = window(g, oh, ow);
                        const float d = dys[at<false>(oh, ow, c, g.OH, g.OW, g.C)] * window_scale(r);
                        for (int64_t h = r.h0; h < r.h1; ++h)
                            for (int64_t w = r.w0; w < r.w1; ++w)
                                dxs[at<false>(h, w, c, g.H, g.W, g.C)] += d;
                    }
            continue;
        }
        for (int64_t oh = 0; oh < g.OH; ++oh)
            for (int64_t ow = 0; ow < g.OW; ++ow) {
                const Window r = window(g, oh, ow);
                const float scale = window_scale(r);
                const float* KCC_RESTRICT dyp = dys + (oh * g.OW + ow) * g.C;
                for (int64_t h = r.h0; h < r.h1; ++h)
                    for (int64_t w = r.w0; w < r.w1; ++w) {
                        float* KCC_RESTRICT dxp = dxs + at<true>(h, w, 0, g.H, g.W, g.C);
                        for (int64_t c = 0; c < g.C; ++c) dxp[c] += dyp[c] * scale;
                    }
            }
    }
}

}  // namespace pool
}  // namespace kcc

#endif  // KCC_OPS_POOL_H
