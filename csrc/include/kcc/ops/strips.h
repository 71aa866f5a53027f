// kcc/ops/strips.h: the moves between an image and the channels-last strips the Winograd
// transforms read and write (kcc/ops/winograd.h).
//
// A strip is a few image rows, channels-last (rows, width, C), with zeros where a window
// hangs over the image's edge. `gather` copies image rows into one; `scatter` writes one
// back, adding the bias and applying the activation (or adding into the image: the
// backward's dx). Channels-first images go through `transpose`.
#ifndef KCC_OPS_STRIPS_H
#define KCC_OPS_STRIPS_H

#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "kcc/common.h"

namespace kcc {
namespace strips {

// Channels moved per block: 16, one AVX-512 register.
constexpr int64_t L = 16;

// dst[j * ld_dst + i] = src[i * ld_src + j] for a rows x cols block: the channels-first <->
// channels-last moves of gather and scatter. Full 16 x 16 blocks go through AVX-512
// registers (unpacks, then 128-bit lane shuffles: 3x faster than element by element,
// measured on 64 x 224 rows); the rest, and builds without AVX-512, element by element.
// (GCC 12 warns that its own _mm512_undefined_ps() "may be used uninitialized" inside the
// unpack intrinsics: a false positive, silenced here for users' -Wall builds.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
inline void transpose(float* KCC_RESTRICT dst, int64_t ld_dst, const float* KCC_RESTRICT src,
                      int64_t ld_src, int64_t rows, int64_t cols) {
    int64_t i0 = 0;
#if defined(__AVX512F__)
    for (; i0 + 16 <= rows; i0 += 16) {
        int64_t j0 = 0;
        for (; j0 + 16 <= cols; j0 += 16) {
            __m512 r[16], t[16];
            for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + (i0 + i) * ld_src + j0);
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 16; i += 4) {
                const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
                const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
                r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
                r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
                r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
                r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
            }
            for (int i = 0; i < 4; ++i) {
                t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
                t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
                t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
                t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
            }
            for (int i = 0; i < 4; ++i) {
                r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
                r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
                r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
                r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
            }
            for (int j = 0; j < 16; ++j) _mm512_storeu_ps(dst + (j0 + j) * ld_dst + i0, r[j]);
        }
        for (int64_t i = i0; i < i0 + 16; ++i)
            for (int64_t j = j0; j < cols; ++j) dst[j * ld_dst + i] = src[i * ld_src + j];
    }
#endif
    for (int64_t b = i0; b < rows; b += L)
        for (int64_t j0 = 0; j0 < cols; j0 += L) {
            const int64_t i1 = b + L < rows ? b + L : rows, j1 = j0 + L < cols ? j0 + L : cols;
            for (int64_t i = b; i < i1; ++i)
                for (int64_t j = j0; j < j1; ++j) dst[j * ld_dst + i] = src[i * ld_src + j];
        }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// strip (rows, width, C), channels-last = rows [y0, y0 + rows) and columns [x0, x0 + width)
// of one image x, zeros outside it. CF: x is (C, H, W), else (H, W, C).
template <bool CF>
inline void gather(float* KCC_RESTRICT strip, const float* KCC_RESTRICT x, int64_t C, int64_t H,
                   int64_t W, int64_t y0, int64_t rows, int64_t x0, int64_t width) {
    const int64_t lo = x0 < 0 ? -x0 : 0;                   // first column inside the image
    const int64_t hi = W - x0 < width ? W - x0 : width;     // one past the last
    for (int64_t a = 0; a < rows; ++a) {
        float* KCC_RESTRICT row = strip + a * width * C;
        const int64_t h = y0 + a;
        if (h < 0 || h >= H || hi <= lo) {
            memset(row, 0, sizeof(float) * (size_t)(width * C));
            continue;
        }
        memset(row, 0, sizeof(float) * (size_t)(lo * C));
        if (hi < width) memset(row + hi * C, 0, sizeof(float) * (size_t)((width - hi) * C));
        if (CF)   // (C, w) -> (w, C): row h of every channel plane
            transpose(row + lo * C, C, x + h * W + x0 + lo, H * W, C, hi - lo);
        else
            memcpy(row + lo * C, x + (h * W + x0 + lo) * C, sizeof(float) * (size_t)((hi - lo) * C));
    }
}

// Rows [y0, y0 + rows) of one output image y (clipped to Ho, columns to Wo) from a
// channels-last strip (rows, width, F): y = act(strip + b), or y += strip (accumulate:
// the backward's dx; no bias, no activation). CF: y (F, Ho, Wo), else (Ho, Wo, F).
// `tmp`: Wo * F floats of scratch (channels-first: the row, transposed).
template <bool CF, class Act>
inline void scatter(float* KCC_RESTRICT y, const float* KCC_RESTRICT strip, const float* b,
                    int64_t F, int64_t Ho, int64_t Wo, int64_t y0, int64_t rows, int64_t width,
                    bool accumulate, float* KCC_RESTRICT tmp) {
    if (y0 + rows > Ho) rows = Ho - y0;
    for (int64_t i = 0; i < rows; ++i) {
        const float* KCC_RESTRICT row = strip + i * width * F;
        if (!CF) {
            float* KCC_RESTRICT dst = y + (y0 + i) * Wo * F;
            for (int64_t w = 0; w < Wo; ++w)
                for (int64_t f = 0; f < F; ++f) {
                    const float v = row[w * F + f];
                    dst[w * F + f] = accumulate ? dst[w * F + f] + v : Act::f(v + (b ? b[f] : 0.0f));
                }
            continue;
        }
        transpose(tmp, Wo, row, F, Wo, F);          // (Wo, F) -> (F, Wo)
        for (int64_t f = 0; f < F; ++f) {
            float* KCC_RESTRICT dst = y + (f * Ho + y0 + i) * Wo;
            const float* KCC_RESTRICT src = tmp + f * Wo;
            const float bf = b ? b[f] : 0.0f;
            if (accumulate)
                for (int64_t w = 0; w < Wo; ++w) dst[w] += src[w];
            else
                for (int64_t w = 0; w < Wo; ++w) dst[w] = Act::f(src[w] + bf);
        }
    }
}

}  // namespace strips
}  // namespace kcc

#endif  // KCC_OPS_STRIPS_H
