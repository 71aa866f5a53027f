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

#ifdef KCC_CUDA_EMULATE
struct Block {
    int index;      // blockIdx.x
    int threads;    // blockDim.x
    float* smem;    // the block's dynamic shared memory
    bool descend;   // run a phase's threads last to first (see emulate::next_launch_descends)
    template <class F>
    void phase(F f) {
        for (int t = 0; t < threads; ++t) f(descend ? threads - 1 - t : t);
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

template <class Body>
inline void each_block(cudaStream_t stream, int blocks, int threads, int64_t smem_floats, Body body) {
    if (blocks <= 0) return;
    const int bytes = (int)(smem_floats * (int64_t)sizeof(float));
    if (bytes > 48 * 1024)   // above the default limit a kernel must opt in (not a stream op:
                             // allowed while a training step is being captured)
        cudaFuncSetAttribute(block_kernel<Body>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    block_kernel<Body><<<blocks, threads, bytes, stream>>>(body);
}
#endif  // KCC_CUDA_EMULATE

// out[f] (+)= sum over samples i < n and pixels p < hw of in[i * ld + f * hw + p]: the bias
// gradient of a channels-first conv. One block per channel: each thread a strided partial
// sum, then a fixed-shape tree reduction (deterministic).
inline void channel_sum(cudaStream_t stream, float* out, const float* in, int64_t channels, int64_t n,
                        int64_t hw, int64_t ld, bool accumulate) {
    each_block(stream, (int)channels, kThreads, kThreads, [=] __device__(Block& blk) {
        const int64_t f = blk.index;
        float* const part = blk.smem;
        blk.phase([&](int tid) {
            float acc = 0.0f;
            for (int64_t e = tid; e < n * hw; e += kThreads) acc += in[e / hw * ld + f * hw + e % hw];
            part[tid] = acc;
        });
        for (int w = kThreads / 2; w > 0; w >>= 1)
            blk.phase([&](int tid) {
                if (tid < w) part[tid] += part[tid + w];
            });
        blk.phase([&](int tid) {
            if (tid == 0) out[f] = accumulate ? out[f] + part[0] : part[0];
        });
    });
}

}  // namespace cuda
}  // namespace kcc

#endif  // KCC_CUDA_BLOCK_CUH
