// kcc/cuda/block.cuh: kernels whose threads cooperate through shared memory, written as a
// sequence of block-wide phases so the host emulation can run them too.
//
//   kcc::cuda::each_block(stream, blocks, threads, smem_floats, [=] __device__(kcc::cuda::Block& b) {
//       for (...) {                                    // the same trip count in every thread
//           b.phase([&](int tid) { ... b.smem ... });  // every thread's part, then a barrier
//       }
//   });
//
// On the GPU the body runs in every thread of each block and `phase` is f(threadIdx.x)
// followed by __syncthreads(). Emulated (kcc/cuda/runtime.cuh), the body runs once per
// block and `phase` loops f over the thread ids. So a thread may read, in a phase, only what
// was written before the phase's start (by any thread) or by itself in this phase, and it
// keeps nothing in locals from one phase to the next: state lives in `smem` or global memory.
// Every thread must make the same sequence of `phase` calls (no phase inside a branch that
// depends on the thread).
#ifndef KCC_CUDA_BLOCK_CUH
#define KCC_CUDA_BLOCK_CUH

#include <stdint.h>
#include <algorithm>
#include <iterator>
#include <vector>
#include "kcc/cuda/launch.cuh"
#include "kcc/cuda/runtime.cuh"

namespace kcc {
namespace cuda {

// Dynamic shared memory one block of a kernel may use on every GPU kcc targets (sm_70's
// opt-in limit; Hopper allows 227 KB). Templates choose block kernels within it.
constexpr int64_t kPortableSmemBytes = 96 * 1024;

// Dynamic shared memory a block may opt in to on Hopper (sm_90: 227 KB).
constexpr int64_t kMaxSmemBytes = 227 * 1024;

// A thread's state in a Team kernel: N floats, in registers when the kernel indexes them
// with compile-time constants (fully unrolled loops).
template <int64_t N>
struct Registers {
    float v[N];
};

#ifdef KCC_CUDA_EMULATE
// One emulated phase: f(tid) for every thread id, first to last or last to first (see
// emulate::next_launch_descends), as Block and Team run it.
template <class F>
inline void each_thread_of_phase(int threads, bool descend, F f) {
    for (int t = 0; t < threads; ++t) f(descend ? threads - 1 - t : t);
}

struct Block {
    int index;      // blockIdx.x
    int threads;    // blockDim.x
    float* smem;    // the block's dynamic shared memory
    bool descend;   // run a phase's threads last to first
    template <class F>
    void phase(F f) {
        each_thread_of_phase(threads, descend, f);
    }
};

template <class Body>
inline void each_block(cudaStream_t, int blocks, int threads, int64_t smem_floats, Body body) {
    emulate::require(threads >= 1 && threads <= 1024, "each_block with " + std::to_string(threads) +
                                                          " threads a block (1 to 1024)");
    emulate::require(smem_floats * 4 <= kMaxSmemBytes, "each_block with " + std::to_string(smem_floats * 4) +
                                                           " bytes of shared memory (at most 227 KB)");
    std::vector<float> smem((size_t)(smem_floats > 0 ? smem_floats : 1));
    const bool down = emulate::next_launch_descends();
    for (int k = 0; k < blocks; ++k) {
        // NaN, as the GPU's shared memory starts as whatever was there: a block reads only
        // what it wrote
        std::fill(smem.begin(), smem.end(), __builtin_nanf(""));
        Block b{k, threads, smem.data(), down != (k & 1)};
        body(b);
    }
}

// A block whose threads keep state from one phase to the next (the recurrent weights a
// thread holds in registers, a GEMM tile's accumulators): `phase(f)` is f(state, tid) in
// every thread, then a barrier.
// State: kcc::cuda::Registers<N>, say (a kernel's template argument cannot be a local type).
template <class State>
struct Team {
    int index;
    int threads;
    float* smem;
    bool descend;
    std::vector<State>* states;   // one per thread
    template <class F>
    void phase(F f) {
        each_thread_of_phase(threads, descend, [&](int tid) { f((*states)[(size_t)tid], tid); });
    }
};

template <class State, int MaxThreads, class Body>
inline void each_team(cudaStream_t s, int blocks, int threads, int64_t smem_floats, Body body) {
    emulate::require(threads <= MaxThreads, "each_team with " + std::to_string(threads) +
                                                " threads a block, over its launch bound");
    std::vector<State> states((size_t)threads);
    // Block's checks, poisoned shared memory and thread order, plus NaN registers: a thread
    // reads only the state it wrote
    each_block(s, blocks, threads, smem_floats, [&](Block& b) {
        for (State& st : states) std::fill(std::begin(st.v), std::end(st.v), __builtin_nanf(""));
        Team<State> team{b.index, b.threads, b.smem, b.descend, &states};
        body(team);
    });
}
#else
struct Block {
    int index;
    int threads;
    float* smem;
    template <class F>
    __device__ __forceinline__ void phase(F f) {
        f((int)threadIdx.x);
        __syncthreads();
    }
};

template <class Body>
__global__ void block_kernel(Body body) {
    extern __shared__ float kcc_block_smem[];
    Block b{(int)blockIdx.x, (int)blockDim.x, kcc_block_smem};
    body(b);
}

// kernel<<<blocks, threads, smem_floats floats>>>(body), for each_block and each_team.
template <class Body>
inline void launch_with_smem(void (*kernel)(Body), cudaStream_t stream, int blocks, int threads,
                             int64_t smem_floats, const Body& body) {
    if (blocks <= 0) return;
    const int bytes = (int)(smem_floats * (int64_t)sizeof(float));
    if (bytes > 48 * 1024)   // above the default limit a kernel must opt in (not a stream op:
                             // allowed while a training step is being captured)
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    kernel<<<blocks, threads, bytes, stream>>>(body);
}

template <class Body>
inline void each_block(cudaStream_t stream, int blocks, int threads, int64_t smem_floats, Body body) {
    launch_with_smem(block_kernel<Body>, stream, blocks, threads, smem_floats, body);
}

template <class State>
struct Team {
    int index;
    int threads;
    float* smem;
    State st;   // this thread's
    template <class F>
    __device__ __forceinline__ void phase(F f) {
        f(st, (int)threadIdx.x);
        __syncthreads();
    }
};

// __launch_bounds__: ptxas keeps each thread's registers within what MaxThreads threads can
// share (65,536 / MaxThreads), so the launch never fails for want of registers.
template <class State, int MaxThreads, class Body>
__global__ void __launch_bounds__(MaxThreads) team_kernel(Body body) {
    extern __shared__ float kcc_team_smem[];
    Team<State> team{(int)blockIdx.x, (int)blockDim.x, kcc_team_smem, {}};
    body(team);
}

template <class State, int MaxThreads, class Body>
inline void each_team(cudaStream_t stream, int blocks, int threads, int64_t smem_floats, Body body) {
    launch_with_smem(team_kernel<State, MaxThreads, Body>, stream, blocks, threads, smem_floats, body);
}
#endif  // KCC_CUDA_EMULATE

// Fixed-shape tree reduction (deterministic): part[l * cols + c] for lanes l < `lanes` (a
// power of two) summed into part[c], in log2(lanes) phases. `part` is in the block's shared
// memory (blk.smem, or a later region of it; doubles for sums that need them).
template <class T>
__device__ __forceinline__ void fold_lanes(Block& blk, T* part, int cols, int lanes) {
    for (int w = lanes / 2; w > 0; w >>= 1)
        blk.phase([&](int tid) {
            if (tid < w * cols) part[tid] += part[tid + w * cols];
        });
}

__device__ __forceinline__ void fold_lanes(Block& blk, int cols, int lanes) { fold_lanes(blk, blk.smem, cols, lanes); }

// Threads for a block that reduces rows of d floats: a power of two from 32 to 256, about
// four floats each, so short rows do not leave most of a block idle.
constexpr int row_threads(int64_t d) { return d <= 128 ? 32 : d <= 256 ? 64 : d <= 512 ? 128 : 256; }

// out[j] (+)= sum over rows r < rows of in[r * ld + j], j < d (ld 0: d): the bias gradient
// of a Dense or recurrent layer (an LSTM's: 256 columns over n * T = 4,480 rows). A block per
// 32 columns: lane c of each warp takes column c, warp w rows w, w + 32, ... (a warp reads
// 32 consecutive floats of a row), then the 32 partial sums fold.
inline void column_sum(cudaStream_t stream, float* out, const float* in, int64_t rows, int64_t d, int64_t ld,
                       bool accumulate) {
    constexpr int kCols = 32, kLanes = 32;
    ld = ld ? ld : d;
    each_block(stream, (int)((d + kCols - 1) / kCols), kCols * kLanes, kCols * kLanes, [=] __device__(Block& blk) {
        blk.phase([&](int tid) {
            const int64_t j = (int64_t)blk.index * kCols + tid % kCols;
            float acc = 0.0f;
            if (j < d)
                for (int64_t r = tid / kCols; r < rows; r += kLanes) acc += in[r * ld + j];
            blk.smem[tid] = acc;
        });
        fold_lanes(blk, kCols, kLanes);
        blk.phase([&](int tid) {
            const int64_t j = (int64_t)blk.index * kCols + tid;
            if (tid < kCols && j < d) out[j] = accumulate ? out[j] + blk.smem[tid] : blk.smem[tid];
        });
    });
}

// out[f] (+)= sum over samples i < n and pixels p < hw of in[i * ld + f * hw + p]: the bias
// gradient of a channels-first conv. One block per channel: each thread a strided partial
// sum over every sample's plane, then the partial sums fold.
inline void channel_sum(cudaStream_t stream, float* out, const float* in, int64_t channels, int64_t n,
                        int64_t hw, int64_t ld, bool accumulate) {
    each_block(stream, (int)channels, kThreads, kThreads, [=] __device__(Block& blk) {
        const int64_t f = blk.index;
        blk.phase([&](int tid) {
            float acc = 0.0f;
            for (int64_t i = 0; i < n; ++i)
                for (int64_t p = tid; p < hw; p += kThreads) acc += in[i * ld + f * hw + p];
            blk.smem[tid] = acc;
        });
        fold_lanes(blk, 1, kThreads);
        blk.phase([&](int tid) {
            if (tid == 0) out[f] = accumulate ? out[f] + blk.smem[0] : blk.smem[0];
        });
    });
}

// out[k] = the sum of the squares of segment k's gradient, a block per weight, then
// out[N] = their sum in weight order: the norms gradient clipping needs (clipnorm, one per
// weight; global_clipnorm, the total) before the update reads them. Each thread adds its
// strided share in double, the shares fold in a fixed tree: deterministic, no atomics.
template <int N>
inline void gradient_squares(cudaStream_t stream, const WeightSegments<N>& segs, float* out) {
    each_block(stream, N, kThreads, kThreads, [=] __device__(Block& blk) {
        blk.phase([&](int tid) {
            const WeightSegment& sg = segs.w[blk.index];
            double acc = 0.0;
            for (int64_t i = tid; i < sg.n; i += kThreads) acc += (double)sg.g[i] * (double)sg.g[i];
            blk.smem[tid] = (float)acc;
        });
        fold_lanes(blk, 1, kThreads);
        blk.phase([&](int tid) {
            if (tid == 0) out[blk.index] = blk.smem[0];
        });
    });
    each(stream, 1, [=] __device__(int64_t) {
        float total = 0.0f;
        for (int k = 0; k < N; ++k) total += out[k];
        out[N] = total;
    });
}

}  // namespace cuda
}  // namespace kcc

#endif  // KCC_CUDA_BLOCK_CUH
