// kcc/cuda/gemm.cuh: kcc's own single-precision GEMM for CUDA (no cuBLAS on our build
// machines), with the bias + activation epilogue fused into the store.
//
//   C = epi(alpha * op(A) op(B) + beta * C)      row-major, like kcc::gemm on the CPU
//
// op(A) is M x K (A is K x M when transposed), op(B) is K x N. The classic register-blocked
// SIMT GEMM (as in CUTLASS's SIMT path and llm.c's matmul kernels): each block computes a
// BM x BN tile of C, stepping over K in BK = 8 wide slices; each thread owns TM x TN outputs
// in 4 x 4 squares spread over the tile. Per slice a thread
//   - fetches its share of the next slice of A and B from global memory into registers, as
//     float4 loads along whichever axis is contiguous (coalesced in every transpose case);
//   - multiplies the current slice out of shared memory, reading its 4-wide rows and
//     columns as float4 (broadcasts or consecutive words: no bank conflicts);
//   - stores the fetched slice into the other of two shared buffers,
// so global latency hides behind the arithmetic and one barrier per slice suffices.
//
// The tile code is written once, as per-thread steps (GemmTile) that a `team` runs in
// phases, each ended by a barrier: on the GPU the team is the block's threads; in the host
// emulation (kcc/cuda/runtime.cuh) it is a loop over thread states, in either order. So CI,
// which has no GPU, runs the same tiling, vector-or-scalar loads and edge handling the GPU
// does, checks every float4 access's alignment, and would see a phase that reads what
// another thread writes in the same phase.
#ifndef KCC_CUDA_GEMM_CUH
#define KCC_CUDA_GEMM_CUH

#include <stdint.h>
#include <algorithm>
#include <vector>
#include "kcc/cuda/block.cuh"
#include "kcc/cuda/launch.cuh"
#include "kcc/cuda/runtime.cuh"

namespace kcc {
namespace cuda {

// The plain store: no bias, no activation.
struct Identity {
    __device__ __forceinline__ float operator()(int64_t /*col*/, float v) const { return v; }
};

// act(v + bias[col]), the Dense / Conv epilogue (bias may be null).
template <class Act>
struct BiasAct {
    const float* bias;
    __device__ __forceinline__ float operator()(int64_t col, float v) const {
        return Act::f(bias ? v + bias[col] : v);
    }
};

// Where a GEMM's operands are in memory: C_z = epi(alpha op(A_z) op(B_z) + beta C_z) for
// z = blockIdx.z, or with k_split > 0 one shared A and B whose K slice z goes to partial
// result z (see gemm_split). vec_*: the operand's rows start on 16-byte boundaries, so whole
// 4-float groups along its contiguous axis may be read (or written) as one float4.
struct GemmArgs {
    int64_t M, N, K;
    float alpha, beta;
    const float* A;
    int64_t lda, sA;
    const float* B;
    int64_t ldb, sB;
    float* C;
    int64_t ldc, sC;
    int64_t k_split;
    bool vec_a, vec_b, vec_c;
};

// Four consecutive floats at a 16-byte aligned p, read (ReadOnly: through the read-only
// cache, for operands the kernel never writes) or written.
template <bool ReadOnly = false>
__device__ __forceinline__ void load4(float* v, const float* p) {
#ifdef __CUDA_ARCH__
    const float4 q = ReadOnly ? __ldg(reinterpret_cast<const float4*>(p)) : *reinterpret_cast<const float4*>(p);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
#else
#ifdef KCC_CUDA_EMULATE
    emulate::require_aligned16(p, "a GEMM load");
#endif
    v[0] = p[0], v[1] = p[1], v[2] = p[2], v[3] = p[3];
#endif
}
__device__ __forceinline__ void store4(float* p, const float (&v)[4]) {
#ifdef __CUDA_ARCH__
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
#else
#ifdef KCC_CUDA_EMULATE
    emulate::require_aligned16(p, "a GEMM store");
#endif
    p[0] = v[0], p[1] = v[1], p[2] = v[2], p[3] = v[3];
#endif
}

// One R x C tile of a row-major matrix (C contiguous, at rows r0.., columns c0..; `rows` x
// `cols` valid) as float4 groups, the NT threads of a block taking L groups each. Groups
// past the edge read zeros, so the arithmetic needs no bounds checks.
template <int R, int C, int NT, int L>
__device__ __forceinline__ void fetch_tile(float (&v)[L][4], int tid, const float* p, int64_t ld, int64_t r0,
                                           int64_t c0, int64_t rows, int64_t cols, bool vec) {
    static_assert(R * C == 4 * NT * L, "the tile splits evenly into the threads' float4 groups");
#pragma unroll
    for (int l = 0; l < L; ++l) {
        const int idx = tid + l * NT, r = idx / (C / 4), c = idx % (C / 4) * 4;
        const int64_t gr = r0 + r, gc = c0 + c;
        if (vec && gr < rows && gc + 3 < cols) {
            load4<true>(v[l], p + gr * ld + gc);
        } else {
#pragma unroll
            for (int i = 0; i < 4; ++i) v[l][i] = gr < rows && gc + i < cols ? p[gr * ld + gc + i] : 0.0f;
        }
    }
}

// The groups fetch_tile read, into a shared [k][m] (or [k][n]) array: as they are, or
// transposed when the matrix's contiguous axis is k. LDS = the shared row length, 4 more
// than the tile's so a transposed warp's stores fall in distinct banks.
template <int R, int C, int NT, int L, bool Transpose, int LDS>
__device__ __forceinline__ void stash_tile(const float (&v)[L][4], int tid, float (*s)[LDS]) {
#pragma unroll
    for (int l = 0; l < L; ++l) {
        const int idx = tid + l * NT, r = idx / (C / 4), c = idx % (C / 4) * 4;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            if (Transpose) s[c + i][r] = v[l][i];
            else s[r][c + i] = v[l][i];
        }
    }
}

// The per-thread steps of one BM x BN tile (see the top of this file). Thread tid owns
// rows g * 4TY + 4ty + i and columns h * 4TX + 4tx + j (g < TM/4, h < TN/4, i, j < 4), with
// tx = tid % TX, ty = tid / TX: within a warp the 4-wide column groups are consecutive.
template <int BM_, int BN_, int TM_, int TN_, bool TA, bool TB>
struct GemmTile {
    static constexpr int BM = BM_, BN = BN_, BK = 8, TM = TM_, TN = TN_;
    static constexpr int TX = BN / TN, TY = BM / TM, NT = TX * TY;
    static constexpr int LA = BM * BK / 4 / NT, LB = BK * BN / 4 / NT;   // float4 groups a thread fetches
    static_assert(TM % 4 == 0 && TN % 4 == 0, "outputs come in 4 x 4 squares");
    static_assert(LA >= 1 && LB >= 1, "every thread fetches at least one group of A and of B");

    struct alignas(16) Shared {   // two K slices: one being multiplied, the next being stored
                                  // (rows of 4k + 4 floats: every 4-group stays aligned)
        float a[2][BK][BM + 4];   // a[.][k][m] = op(A)[m0 + m][k0 + k]
        float b[2][BK][BN + 4];   // b[.][k][n] = op(B)[k0 + k][n0 + n]
    };
    struct Thread {
        float acc[TM][TN];
        float a[LA][4], b[LB][4];   // the next slice, on its way to shared memory
    };

    // A is M x K (k contiguous) or, transposed, K x M; B is K x N or, transposed, N x K.
    __device__ __forceinline__ static void fetch(Thread& t, int tid, const GemmArgs& g, const float* A,
                                                 const float* B, int64_t m0, int64_t n0, int64_t k0,
                                                 int64_t k_end) {
        if (TA) fetch_tile<BK, BM, NT, LA>(t.a, tid, A, g.lda, k0, m0, k_end, g.M, g.vec_a);
        else fetch_tile<BM, BK, NT, LA>(t.a, tid, A, g.lda, m0, k0, g.M, k_end, g.vec_a);
        if (TB) fetch_tile<BN, BK, NT, LB>(t.b, tid, B, g.ldb, n0, k0, g.N, k_end, g.vec_b);
        else fetch_tile<BK, BN, NT, LB>(t.b, tid, B, g.ldb, k0, n0, k_end, g.N, g.vec_b);
    }

    __device__ __forceinline__ static void stash(const Thread& t, int tid, Shared& s, int buf) {
        if (TA) stash_tile<BK, BM, NT, LA, false>(t.a, tid, s.a[buf]);
        else stash_tile<BM, BK, NT, LA, true>(t.a, tid, s.a[buf]);
        if (TB) stash_tile<BN, BK, NT, LB, true>(t.b, tid, s.b[buf]);
        else stash_tile<BK, BN, NT, LB, false>(t.b, tid, s.b[buf]);
    }

    __device__ __forceinline__ static void multiply(Thread& t, int tid, const Shared& s, int buf) {
        const int tx = tid % TX, ty = tid / TX;
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            float a[TM], b[TN];
#pragma unroll
            for (int g = 0; g < TM / 4; ++g) load4(a + 4 * g, &s.a[buf][k][g * 4 * TY + 4 * ty]);
#pragma unroll
            for (int h = 0; h < TN / 4; ++h) load4(b + 4 * h, &s.b[buf][k][h * 4 * TX + 4 * tx]);
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) t.acc[i][j] += a[i] * b[j];   // one FFMA (nvcc contracts)
        }
    }

    template <class Epi>
    __device__ __forceinline__ static void store(const Thread& t, int tid, const GemmArgs& g, float* C,
                                                 int64_t m0, int64_t n0, const Epi& epi) {
        const int tx = tid % TX, ty = tid / TX;
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int64_t m = m0 + i / 4 * 4 * TY + 4 * ty + i % 4;
            if (m >= g.M) continue;
#pragma unroll
            for (int h = 0; h < TN / 4; ++h) {
                const int64_t n = n0 + h * 4 * TX + 4 * tx;
                float* c = C + m * g.ldc + n;
                if (g.vec_c && n + 3 < g.N) {
                    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};   // C is read only when beta != 0
                    if (g.beta != 0.0f) load4(v, c);
#pragma unroll
                    for (int j = 0; j < 4; ++j) v[j] = epi(n + j, g.alpha * t.acc[i][4 * h + j] + g.beta * v[j]);
                    store4(c, v);
                } else {
#pragma unroll
                    for (int j = 0; j < 4; ++j) {
                        if (n + j >= g.N) break;
                        float v = g.alpha * t.acc[i][4 * h + j];
                        if (g.beta != 0.0f) v += g.beta * c[j];
                        c[j] = epi(n + j, v);
                    }
                }
            }
        }
    }
};

// Block (bx, by, bz) of a GEMM, run by `team` (kcc::cuda::Team, block.cuh): team.phase(f)
// calls f(thread state, tid) for every thread of the block, then waits at a barrier for all
// of them.
template <class Tile, class Team, class Epi>
__device__ __forceinline__ void gemm_block(Team& team, typename Tile::Shared& s, const GemmArgs& g, int bx,
                                           int by, int bz, const Epi& epi) {
    using Thread = typename Tile::Thread;
    const float* A = g.A;
    const float* B = g.B;
    int64_t k_begin = 0, k_end = g.K;
    if (g.k_split) {
        k_begin = bz * g.k_split;
        if (k_begin + g.k_split < k_end) k_end = k_begin + g.k_split;
    } else {
        A += bz * g.sA;
        B += bz * g.sB;
    }
    float* C = g.C + bz * g.sC;
    const int64_t m0 = (int64_t)by * Tile::BM, n0 = (int64_t)bx * Tile::BN;

    team.phase([&](Thread& t, int tid) {
#pragma unroll
        for (int i = 0; i < Tile::TM; ++i)
#pragma unroll
            for (int j = 0; j < Tile::TN; ++j) t.acc[i][j] = 0.0f;
        Tile::fetch(t, tid, g, A, B, m0, n0, k_begin, k_end);
        Tile::stash(t, tid, s, 0);
    });
    int buf = 0;
    for (int64_t k0 = k_begin; k0 < k_end; k0 += Tile::BK) {
        const bool more = k0 + Tile::BK < k_end;
        // at its barrier the slice just stored is complete, and nobody still reads the other
        team.phase([&](Thread& t, int tid) {
            if (more) Tile::fetch(t, tid, g, A, B, m0, n0, k0 + Tile::BK, k_end);
            Tile::multiply(t, tid, s, buf);
            if (more) Tile::stash(t, tid, s, buf ^ 1);
        });
        buf ^= 1;
    }
    team.phase([&](Thread& t, int tid) { Tile::store(t, tid, g, C, m0, n0, epi); });
}

// GEMM grids: row tiles on x (up to 2^31 - 1: a TimeDistributed Dense over a large predict
// batch has millions of rows), column tiles on y and matrices (or K slices) on z, at most
// 65535 each, so larger counts go in several launches from tile (x0, y0, z0) on.
// (KCC_CUDA_MAX_GRID_YZ lowers the limit: tests/cuda/test_gemm.py runs those several
// launches on small matrices.)
#ifndef KCC_CUDA_MAX_GRID_YZ
#define KCC_CUDA_MAX_GRID_YZ 65535
#endif
constexpr int64_t kMaxGridYZ = KCC_CUDA_MAX_GRID_YZ;

#ifdef KCC_CUDA_EMULATE
// Host emulation: each block in turn, its threads' states side by side.
template <class Tile, class Epi>
inline void gemm_grid(cudaStream_t, const GemmArgs& g, const Epi& epi, int64_t rows, int64_t cols,
                      int64_t mats, int64_t y0, int64_t z0) {
    emulate::require(rows <= 0x7fffffff && cols <= kMaxGridYZ && mats <= kMaxGridYZ, "a GEMM grid too large");
    std::vector<typename Tile::Thread> states(Tile::NT);
    Team<typename Tile::Thread> team{0, Tile::NT, nullptr, false, &states};
    std::vector<typename Tile::Shared> s(1);
    const bool down = emulate::next_launch_descends();
    for (int64_t z = 0; z < mats; ++z)
        for (int64_t y = 0; y < cols; ++y)
            for (int64_t x = 0; x < rows; ++x) {
                // NaN, as the GPU's shared memory starts as whatever was there
                std::fill_n(&s[0].a[0][0][0], sizeof(s[0]) / sizeof(float), __builtin_nanf(""));
                team.descend = down != ((x + y + z) & 1);
                gemm_block<Tile>(team, s[0], g, (int)(y0 + y), (int)x, (int)(z0 + z), epi);
            }
}
#else
template <class Tile, class Epi>
__global__ void __launch_bounds__(Tile::NT) gemm_kernel(GemmArgs g, int64_t y0, int64_t z0, Epi epi) {
    __shared__ typename Tile::Shared s;
    Team<typename Tile::Thread> team{(int)blockIdx.x, Tile::NT, nullptr, {}};   // smem: `s`
    gemm_block<Tile>(team, s, g, (int)(y0 + blockIdx.y), (int)blockIdx.x, (int)(z0 + blockIdx.z), epi);
}

template <class Tile, class Epi>
inline void gemm_grid(cudaStream_t stream, const GemmArgs& g, const Epi& epi, int64_t rows, int64_t cols,
                      int64_t mats, int64_t y0, int64_t z0) {
    gemm_kernel<Tile><<<dim3((unsigned)rows, (unsigned)cols, (unsigned)mats), Tile::NT, 0, stream>>>(g, y0, z0, epi);
}
#endif  // KCC_CUDA_EMULATE

// Every tile of `batch` products (see kMaxGridYZ).
template <class Tile, class Epi>
inline void gemm_run(cudaStream_t stream, const GemmArgs& g, int64_t batch, Epi epi) {
    const int64_t rows = (g.M + Tile::BM - 1) / Tile::BM, cols = (g.N + Tile::BN - 1) / Tile::BN;
    for (int64_t z0 = 0; z0 < batch; z0 += kMaxGridYZ)
        for (int64_t y0 = 0; y0 < cols; y0 += kMaxGridYZ)
            gemm_grid<Tile>(stream, g, epi, rows, cols - y0 < kMaxGridYZ ? cols - y0 : kMaxGridYZ,
                            batch - z0 < kMaxGridYZ ? batch - z0 : kMaxGridYZ, y0, z0);
}

// The tile a product gets, sized for an H200's 132 SMs. Of the 8 x 8-per-thread tiles that
// still give every SM a block, the one that pads C least, 128 x 128 counted 20% cheaper
// (it reads half the operand bytes per FMA of 128 x 64 and 64 x 128): a conv's 64 filters
// get 64-wide tiles, not half-empty 128-wide ones. When none fills the GPU, 32 x 32 (4 x 4
// a thread), so small products (a batch of 32 rows) spread over more blocks.
// Returns BM * 1000 + BN (tested: tests/cuda/test_gemm.py).
inline int gemm_tile_shape(int64_t M, int64_t N, int64_t batch) {
    const int shapes[3][3] = {{128, 128, 5}, {128, 64, 6}, {64, 128, 6}};   // BM, BN, cost per padded float
    int best = 32032;
    int64_t best_cost = 0;
    for (const auto& t : shapes) {
        const int64_t rows = (M + t[0] - 1) / t[0], cols = (N + t[1] - 1) / t[1];
        const int64_t cost = rows * t[0] * cols * t[1] * t[2];
        if (rows * cols * batch >= kSMs && (best_cost == 0 || cost < best_cost)) {
            best = t[0] * 1000 + t[1];
            best_cost = cost;
        }
    }
    return best;
}

// `batch` products in one launch (see gemm_batched; k_split: see GemmArgs).
template <bool TA, bool TB, class Epi>
inline void gemm_launch(cudaStream_t s, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                        const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB,
                        float beta, float* C, int64_t ldc, int64_t sC, Epi epi, int64_t k_split) {
    const auto whole = [](const void* p, int64_t ld, int64_t stride) {
        return ((uintptr_t)p & 15) == 0 && ld % 4 == 0 && stride % 4 == 0;
    };
    // a K slice must start on a group boundary where K is the contiguous axis
    const GemmArgs g{M, N, K, alpha, beta, A, lda, sA, B, ldb, sB, C, ldc, sC, k_split,
                     whole(A, lda, sA) && (TA || k_split % 4 == 0), whole(B, ldb, sB) && (!TB || k_split % 4 == 0),
                     whole(C, ldc, sC)};
    switch (gemm_tile_shape(M, N, batch)) {
    case 128128: gemm_run<GemmTile<128, 128, 8, 8, TA, TB>>(s, g, batch, epi); break;
    case 128064: gemm_run<GemmTile<128, 64, 8, 8, TA, TB>>(s, g, batch, epi); break;
    case 64128: gemm_run<GemmTile<64, 128, 8, 8, TA, TB>>(s, g, batch, epi); break;
    default: gemm_run<GemmTile<32, 32, 4, 4, TA, TB>>(s, g, batch, epi);
    }
}

// `batch` independent products C_z = epi(alpha op(A_z) op(B_z) + beta C_z), z < batch, with
// A_z = A + z sA (likewise B, C; a stride of 0 shares one operand): one launch for all.
template <bool TA, bool TB, class Epi = Identity>
inline void gemm_batched(cudaStream_t s, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB,
                         float beta, float* C, int64_t ldc, int64_t sC, Epi epi = Epi()) {
    if (M <= 0 || N <= 0 || batch <= 0) return;
    if (K <= 0) {   // C = epi(beta C): no product to add
        each(s, batch * M * N, [=] __device__(int64_t i) {
            const int64_t z = i / (M * N), m = i / N % M, n = i % N;
            float* c = C + z * sC + m * ldc + n;
            *c = epi(n, beta != 0.0f ? beta * *c : 0.0f);
        });
        return;
    }
    gemm_launch<TA, TB>(s, batch, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, epi, 0);
}

// C = epi(alpha op(A) op(B) + beta C), the CPU's kcc::gemm with the transposes as template
// arguments: a call site instantiates only the kernels it uses (each costs nvcc seconds).
template <bool TA, bool TB, class Epi = Identity>
inline void gemm(cudaStream_t s, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                 Epi epi = Epi()) {
    gemm_batched<TA, TB>(s, 1, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, epi);
}

// Split-K: a small C from a long reduction (a weight gradient summed over a batch of
// pixels or timesteps: a 576 x 64 conv kernel over 34K rows is 5 tiles, 5 busy SMs of 132)
// gets S slices of K computed side by side into S partial results in `work`, then summed
// in slice order (deterministic, no atomics). A template sizes `work` with
// kcc/codegen/env.py's split_k_work (at most 64 slices).
constexpr int64_t kMaxSplit = 64, kMinSliceK = 256;
// Below this K a tile's whole reduction takes a few microseconds: not worth the second
// launch that sums the slices (W1's 784-input Dense at batch 32).
constexpr int64_t kMinSplitK = 2048;

// Slices of K for gemm_split: slices of at least kMinSliceK and partial results that fit in
// `work_floats`; 1 = do not split. Enough slices for two waves of 8 x 8-per-thread tiles
// (W4's 576 x 64 conv kernel gradient: 5 tiles of 128 x 64, so 53 slices) when the
// reduction is long enough for that; else two waves of 32 x 32 tiles, as many as K allows
// (an LSTM's 64 x 256 dR over 4,480 rows: 16 tiles, 17 slices), since few 8 x 8 tiles
// would leave most SMs idle.
inline int64_t split_k_slices(int64_t M, int64_t N, int64_t K, int64_t work_floats) {
    if (K < kMinSplitK || M <= 0 || N <= 0) return 1;
    const auto cdiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
    const int64_t wide = cdiv(M, 128) * cdiv(N, 64), tall = cdiv(M, 64) * cdiv(N, 128);
    int64_t slices = cdiv(2 * kSMs, wide < tall ? wide : tall);
    if (slices > kMaxSplit || slices > K / kMinSliceK) slices = cdiv(2 * kSMs, cdiv(M, 32) * cdiv(N, 32));
    if (slices > K / kMinSliceK) slices = K / kMinSliceK;
    if (slices > work_floats / (M * N)) slices = work_floats / (M * N);
    if (slices > kMaxSplit) slices = kMaxSplit;
    return slices < 2 ? 1 : slices;
}

template <bool TA, bool TB, class Epi = Identity>
inline void gemm_split(cudaStream_t s, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                       int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                       float* work, int64_t work_floats, Epi epi = Epi()) {
    int64_t slices = split_k_slices(M, N, K, work_floats);
    if (slices == 1) {
        gemm<TA, TB>(s, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, epi);
        return;
    }
    // slices of whole BK-wide steps (a slice then starts on a float4 group), none empty
    const int64_t per = ((K + slices - 1) / slices + 7) / 8 * 8;
    slices = (K + per - 1) / per;
    gemm_launch<TA, TB>(s, slices, M, N, K, 1.0f, A, lda, 0, B, ldb, 0, 0.0f, work, N, M * N, Identity(), per);
    each(s, M * N, [=] __device__(int64_t i) {
        float acc = 0.0f;
        for (int64_t z = 0; z < slices; ++z) acc += work[z * M * N + i];
        float* c = C + i / N * ldc + i % N;
        float v = alpha * acc;
        if (beta != 0.0f) v += beta * *c;
        *c = epi(i % N, v);
    });
}

}  // namespace cuda
}  // namespace kcc

#endif  // KCC_CUDA_GEMM_CUH
