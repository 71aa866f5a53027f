// kcc/ops/winograd.h: stride-1 convolutions by Winograd's minimal filtering F(m, r).
//
// The image is cut into tiles of M x M outputs; each reads an A x A input tile
// (A = M + R - 1, neighbours overlap by R - 1). With the transform matrices of F(M, R)
// (kcc/layers/winograd.py derives them; the conv template renders them as a struct T of
// three 1D transforms, data = BT, kernel = G, output = AT), one layer becomes
//     U[xi] (C x F)      = G w G^T            every (c, f) kernel, once per call
//     V[xi] (tiles x C)  = BT d B             every input tile and channel
//     Mo[xi] (tiles x F) = V[xi] . U[xi]      A*A GEMMs, xi = one point of the A x A tile
//     y tile             = AT Mo A (+ bias, activation)
// F(4, 3) does a 3x3 layer's multiplications in 36 per 16 outputs instead of 144, F(4, 5) a
// 5x5's in 64 instead of 400; the transforms are additions and small-integer products.
//
// Tiles are processed in bands of `band` tile rows (across the samples of the batch), so
// V and Mo stay in L2 whatever the image; each band's A*A GEMMs are (band * TW) rows tall.
// A tile's A*A transformed values lie together (V[t][xi][c], Mo[t][xi][f]): the transforms
// read and write one contiguous block per tile, and the GEMMs read xi's matrix with a row
// stride of A*A*C (BLAS's lda).
// The transforms work on 16 channels at a time (one AVX-512 register), reading and writing
// channels-last strips: `gather` copies the A image rows a tile row reads into a
// channels-last strip (zeros in the padding), `scatter` writes a tile row's outputs back.
//
// The backward passes reuse the same pieces:
//   dx = the forward on dz with the kernel rotated by 180 degrees and in/out channels
//        swapped, padded R - 1 - P (a "full" correlation), accumulated into dx;
//   dW = F(R, M) with dz's M x M tiles as the filter: Z[xi] = G' dz G'^T, the sum over tiles
//        is the GEMM V[xi]^T . Z[xi] (C x F), and one output transform per (c, f) at the end.
#ifndef KCC_OPS_WINOGRAD_H
#define KCC_OPS_WINOGRAD_H

#include <stdint.h>
#include <string.h>
#include "kcc/gemm.h"
#include "kcc/parallel.h"
#include "kcc/ops/activations.h"
#include "kcc/ops/strips.h"

// Templates here pass 16-float vectors by value; GCC and Clang note (-Wpsabi) that without
// AVX-512 such a call follows another ABI than with it. That matters only for calls between
// objects built with different flags, and these are all inline: the note is noise in a
// user's -Wall -Wextra build of an export.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunknown-warning-option"
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace kcc {
namespace winograd {

// The transforms' unit: 16 channels, one AVX-512 register (two AVX ones). Channels left
// over (C % 16) go through the same code with V = float.
using strips::L;
typedef float lanes __attribute__((vector_size(L * 4), aligned(4), may_alias));
using strips::gather;
using strips::scatter;

// Unaligned loads and stores through memcpy: V reaches templates as the plain vector type,
// whose alignment (64 bytes) the strips' rows do not have.
template <class V> inline V load(const float* p) {
    V v;
    memcpy(&v, p, sizeof(V));
    return v;
}
template <class V> inline void store(float* p, V v) { memcpy(p, &v, sizeof(V)); }

// One Winograd convolution. The tile grid covers the output: TH * M >= Ho, TW * M >= Wo.
struct Plan {
    int64_t C, H, W;      // input image
    int64_t F, Ho, Wo;    // output image
    int64_t PT, PL;       // zero padding before (top, left)
    int64_t TH, TW;       // tiles per image
    int64_t band;         // tile rows per band
};

// ---- one tile, V lanes of channels at a time --------------------------------------------------
// 2D transform of a square tile held as N x N values of V: out (K x K) = T1 in T1^T, where T1
// is one of T's 1D transforms (N inputs -> K outputs), applied to the columns then the rows.
template <int64_t N, int64_t K, class V, class T1>
inline void transform2d(V (&out)[K][K], const V (&in)[N][N], T1 t1) {
    V mid[K][N];
    for (int64_t j = 0; j < N; ++j) t1(&mid[0][j], N, &in[0][j], N);
    for (int64_t i = 0; i < K; ++i) t1(&out[i][0], 1, &mid[i][0], 1);
}

// out[t][xi][c] = T1 tile T1^T (an N x N tile in, A x A out) for the TW tiles of one strip
// row (rows `width` columns wide, C channels-last), tile t starting at column t * step.
// The data transform reads A x A input tiles M apart (BT d B; the kernel gradient's F(R, M)
// steps by its T::R); the kernel gradient also reads dz's R x R tiles (G g G^T).
template <int64_t N, int64_t A, class V, class T1>
inline void transform_tiles(float* out, const float* strip, int64_t width, int64_t C, int64_t TW,
                            int64_t c, int64_t step, T1 t1) {
    for (int64_t tx = 0; tx < TW; ++tx) {
        V d[N][N], v[A][A];
        for (int64_t a = 0; a < N; ++a)
            for (int64_t e = 0; e < N; ++e) d[a][e] = load<V>(strip + (a * width + tx * step + e) * C + c);
        transform2d<N, A>(v, d, t1);
        for (int64_t i = 0; i < A; ++i)
            for (int64_t j = 0; j < A; ++j) store<V>(out + (tx * A * A + i * A + j) * C + c, v[i][j]);
    }
}

// strip (M, TW*M, F), channels-last = AT m A for the TW tiles of Mo[t][xi][f].
template <class T, class V>
inline void output_tiles(float* strip, const float* Mt, int64_t F, int64_t TW, int64_t f) {
    constexpr int64_t A = T::A, M = T::M;
    for (int64_t tx = 0; tx < TW; ++tx) {
        V m[A][A], y[M][M];
        for (int64_t i = 0; i < A; ++i)
            for (int64_t j = 0; j < A; ++j) m[i][j] = load<V>(Mt + (tx * A * A + i * A + j) * F + f);
        transform2d<A, M>(y, m, [](V* o, int64_t os, const V* x, int64_t xs) { T::output(o, os, x, xs); });
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < M; ++j) store<V>(strip + (i * TW * M + tx * M + j) * F + f, y[i][j]);
    }
}

// Runs body<V>(c) over n channels: 16 at a time, then one at a time.
template <class Body>
inline void over_channels(int64_t n, Body body) {
    int64_t c = 0;
    for (; c + L <= n; c += L) body(lanes{}, c);
    for (; c < n; ++c) body(0.0f, c);
}

// V[t][xi][c] of tile row ty of one image: the A input rows it reads, gathered into the
// strip, then BT d B per tile, tiles `step` columns apart (the forward's and the kernel
// gradient's input side).
template <class T, bool CF>
inline void data_row(float* Vr, float* strip, const float* image, const Plan& p, int64_t ty,
                     int64_t step) {
    constexpr int64_t A = T::A;
    const int64_t Wp = p.TW * step + A - step;      // the tiles' columns, overlaps included
    gather<CF>(strip, image, p.C, p.H, p.W, ty * step - p.PT, A, -p.PL, Wp);
    over_channels(p.C, [&](auto zero, int64_t c) {
        transform_tiles<A, A, decltype(zero)>(Vr, strip, Wp, p.C, p.TW, c, step,
            [](auto* y, int64_t ys, const auto* x, int64_t xs) { T::data(y, ys, x, xs); });
    });
}

// ---- the three steps of a layer ----------------------------------------------------------------

// U[xi][c][f] = G w G^T of w = W[:, :, c, f], W Keras's (R, R, C, F) kernel. Flipped (for
// the backward's dx): U[xi][f][c] of the kernel rotated 180 degrees, w = W[R-1-i, R-1-j, c, f].
// Split over the workers by input channel (flipped: by filter).
template <class T>
inline void transform_kernel(float* U, const float* W, int64_t C, int64_t F, bool flipped,
                             const KccRun* run = nullptr, const float* ws = nullptr) {
    constexpr int64_t A = T::A, R = T::R;
    auto kernel = [](auto* y, int64_t ys, const auto* x, int64_t xs) { T::kernel(y, ys, x, xs); };
    const int64_t parts = workers(run), outer = flipped ? F : C;
    parallel_for(run, ws, parts, [&](int64_t part, int64_t) {
        for (int64_t o = outer * part / parts; o < outer * (part + 1) / parts; ++o) {
            if (!flipped) {
                const int64_t c = o;
                over_channels(F, [&](auto zero, int64_t f) {
                    using V = decltype(zero);
                    V g[R][R], u[A][A];
                    for (int64_t i = 0; i < R; ++i)
                        for (int64_t j = 0; j < R; ++j) g[i][j] = load<V>(W + ((i * R + j) * C + c) * F + f);
                    transform2d<R, A>(u, g, kernel);
                    for (int64_t xi = 0; xi < A * A; ++xi) store<V>(U + (xi * C + c) * F + f, u[xi / A][xi % A]);
                });
                continue;
            }
            const int64_t f = o;
            for (int64_t c = 0; c < C; ++c) {
                float g[R][R], u[A][A];
                for (int64_t i = 0; i < R; ++i)
                    for (int64_t j = 0; j < R; ++j) g[i][j] = W[(((R - 1 - i) * R + R - 1 - j) * C + c) * F + f];
                transform2d<R, A>(u, g, kernel);
                for (int64_t xi = 0; xi < A * A; ++xi) U[(xi * F + f) * C + c] = u[xi / A][xi % A];
            }
        }
    });
}

// Workspace of one call: a strip, V and Mo for one band, and an output strip.
struct Scratch {
    float* strip;   // (A, TW*M + R - 1, C)
    float* V;       // V[t][xi][c]: band*TW tiles x A*A x C
    float* Mo;      // Mo[t][xi][f]: band*TW tiles x A*A x F
    float* out;     // (M, TW*M, F)
};

// The number of bands for `total` tile rows, at most `band` each: with several workers, a
// multiple of their number (when there are rows enough), so they finish together. Band t
// is rows [total * t / bands, total * (t + 1) / bands): sizes differ by one row at most.
inline int64_t band_count(int64_t total, int64_t band, int64_t parts) {
    int64_t bands = (total + band - 1) / band;
    if (parts > 1) bands = (bands + parts - 1) / parts * parts;
    return bands < total ? bands : total;
}

// y = act(conv(x, w) + b) for n images, or y += conv(x, w) (accumulate). U from
// transform_kernel; xs / ys: floats from one image to the next. Each band (gather, input
// transform, GEMMs, output transform) is one task of parallel_for, on its worker's scratch.
template <class T, bool CF, class Act>
inline void conv(float* y, int64_t ys, const float* x, int64_t xs, const float* U, const float* b,
                 const Plan& p, int64_t n, const Scratch& s, bool accumulate,
                 const KccRun* run = nullptr, const float* ws = nullptr) {
    constexpr int64_t A = T::A, M = T::M;
    const int64_t total = n * p.TH;                         // tile rows of the whole batch
    const int64_t bands = band_count(total, p.band, workers(run));
    parallel_for(run, ws, bands, [&](int64_t task, int64_t shift) {
        float* const strip = s.strip + shift;
        float* const V = s.V + shift;
        float* const Mo = s.Mo + shift;
        float* const out = s.out + shift;
        const int64_t r0 = total * task / bands, r1 = total * (task + 1) / bands;
        const int64_t tiles = (r1 - r0) * p.TW;
        for (int64_t r = r0; r < r1; ++r)
            data_row<T, CF>(V + (r - r0) * p.TW * A * A * p.C, strip, x + r / p.TH * xs, p, r % p.TH, M);
        // xi's matrix: row t of V[t][xi][:] (A*A*C apart), into Mo[t][xi][:]
        for (int64_t xi = 0; xi < A * A; ++xi)
            gemm(false, false, tiles, p.F, p.C, 1.0f, V + xi * p.C, A * A * p.C,
                 U + xi * p.C * p.F, p.F, 0.0f, Mo + xi * p.F, A * A * p.F);
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t img = r / p.TH, ty = r % p.TH;
            const float* Mr = Mo + (r - r0) * p.TW * A * A * p.F;
            over_channels(p.F, [&](auto zero, int64_t f) {
                output_tiles<T, decltype(zero)>(out, Mr, p.F, p.TW, f);
            });
            // the input strip is free once the band's data is transformed
            scatter<CF, Act>(y + img * ys, out, b, p.F, p.Ho, p.Wo, ty * M, M, p.TW * M, accumulate, strip);
        }
    });
}

// dW (R, R, C, F) (+)= the kernel gradient of the layer `p` plans, given its input x and the
// gradient dz of its pre-activation output. T is F(R, M) (T::M = the layer's R, T::R = the
// tile side M of the plan), so a tile's A x A input and M x M dz give an R x R contribution.
// Dw: A*A x (C x F), the transformed sum over every tile.
template <class T, bool CF>
inline void kernel_grad(float* dW, bool accumulate, const float* x, int64_t xs, const float* dz,
                        int64_t zs, const Plan& p, int64_t n, const Scratch& s, float* Dw) {
    constexpr int64_t A = T::A, R = T::M, M = T::R;
    const int64_t total = n * p.TH;
    if (total == 0) {           // no tiles: the sum is zero
        memset(Dw, 0, sizeof(float) * (size_t)(A * A * p.C * p.F));
    }
    for (int64_t r0 = 0; r0 < total; r0 += p.band) {
        const int64_t r1 = r0 + p.band < total ? r0 + p.band : total, tiles = (r1 - r0) * p.TW;
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t img = r / p.TH, ty = r % p.TH;
            data_row<T, CF>(s.V + (r - r0) * p.TW * A * A * p.C, s.strip, x + img * xs, p, ty, M);
            // dz's M x M tiles, the "filter" of F(R, M): Z[t][xi][f] = G g G^T
            gather<CF>(s.strip, dz + img * zs, p.F, p.Ho, p.Wo, ty * M, M, 0, p.TW * M);
            float* Zr = s.Mo + (r - r0) * p.TW * A * A * p.F;
            over_channels(p.F, [&](auto zero, int64_t f) {
                transform_tiles<M, A, decltype(zero)>(Zr, s.strip, p.TW * M, p.F, p.TW, f, M,
                    [](auto* y, int64_t ys, const auto* x, int64_t xs) { T::kernel(y, ys, x, xs); });
            });
        }
        for (int64_t xi = 0; xi < A * A; ++xi)
            gemm(true, false, p.C, p.F, tiles, 1.0f, s.V + xi * p.C, A * A * p.C, s.Mo + xi * p.F,
                 A * A * p.F, r0 ? 1.0f : 0.0f, Dw + xi * p.C * p.F, p.F);
    }
    auto output = [](auto* y, int64_t ys, const auto* x, int64_t xs) { T::output(y, ys, x, xs); };
    for (int64_t c = 0; c < p.C; ++c)
        over_channels(p.F, [&](auto zero, int64_t f) {
            using V = decltype(zero);
            V m[A][A], g[R][R];
            for (int64_t xi = 0; xi < A * A; ++xi) m[xi / A][xi % A] = load<V>(Dw + (xi * p.C + c) * p.F + f);
            transform2d<A, R>(g, m, output);
            for (int64_t i = 0; i < R; ++i)
                for (int64_t j = 0; j < R; ++j) {
                    float* at = dW + ((i * R + j) * p.C + c) * p.F + f;
                    store<V>(at, accumulate ? load<V>(at) + g[i][j] : g[i][j]);
                }
        });
}

}  // namespace winograd
}  // namespace kcc

#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif  // KCC_OPS_WINOGRAD_H
