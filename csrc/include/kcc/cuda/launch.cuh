// kcc/cuda/launch.cuh: how generated CUDA code launches its element-wise and row-wise work.
//
// Most ops are "for every element (or row) i, do the math in kcc/ops/<x>.h": a template
// writes that body once, as a __device__ lambda, and `each` / `each_row` launch it. The
// math itself is shared with the CPU templates through the KCC_HD functions of ops/*.h.
// Needs nvcc --extended-lambda (kcc's CUDA toolchain passes it).
#ifndef KCC_CUDA_LAUNCH_CUH
#define KCC_CUDA_LAUNCH_CUH

#include <stdint.h>
#include "kcc/cuda/runtime.cuh"

namespace kcc {
namespace cuda {

constexpr int kThreads = 256;
// The SMs of an H200, the GPU launch shapes are sized for (any other GPU still runs them).
constexpr int64_t kSMs = 132;

// One weight as the fused optimizer kernel sees it: the weight, its gradient, its first
// optimizer slot (slot j at s + j * stride), its size.
struct WeightSegment {
    float* p;
    const float* g;
    float* s;
    int64_t n, stride;
    bool decay;   // the optimizer's weight decay applies to this weight
    __device__ __forceinline__ float* slot(int j) const { return s + j * stride; }
};
template <int N>
struct WeightSegments {   // passed by value: kernel parameters, read from constant memory
    WeightSegment w[N];
};

#ifdef KCC_CUDA_EMULATE
// Host emulation (kcc/cuda/runtime.cuh): each launch is a loop, ascending or descending by
// turns (emulate::next_launch_descends: a kernel whose indices race shows it).
template <class F>
inline void each(cudaStream_t, int64_t count, F f) {
    if (emulate::next_launch_descends())
        for (int64_t i = count - 1; i >= 0; --i) f(i);
    else
        for (int64_t i = 0; i < count; ++i) f(i);
}
template <class F>
inline void each_group(cudaStream_t, int64_t count, int groups, F f) {
    emulate::require(groups <= 65535, "each_group over more than 65535 buffers (grid y)");
    const bool down = emulate::next_launch_descends();
    for (int k = 0; k < groups; ++k)
        for (int64_t n = 0; n < count; ++n) f(down ? count - 1 - n : n, k);
}
template <class F>
inline void each_row(cudaStream_t s, int64_t rows, F f) { each(s, rows, f); }
inline void add_stat(double* s, double v) { *s += v; }
#else
// Enough blocks to fill an H200 several times over; the grid-stride loop covers the rest,
// so one launch shape serves every size.
constexpr int64_t kMaxBlocks = kSMs * 32;

template <class F>
__global__ void __launch_bounds__(kThreads) each_kernel(int64_t count, F f) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) f(i);
}

inline int blocks_for(int64_t count) {
    const int64_t b = (count + kThreads - 1) / kThreads;
    return (int)(b < kMaxBlocks ? b : kMaxBlocks);
}

// f(i) for i in [0, count), one thread per index.
template <class F>
inline void each(cudaStream_t stream, int64_t count, F f) {
    if (count <= 0) return;
    each_kernel<<<blocks_for(count), kThreads, 0, stream>>>(count, f);
}

// f(i, k) for k in [0, groups) and i in [0, count): one launch over several buffers of
// different sizes (blockIdx.y picks the buffer; f returns early past its own size). The
// optimizer updates every weight this way in a single kernel.
template <class F>
__global__ void __launch_bounds__(kThreads) each_group_kernel(int64_t count, F f) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        f(i, (int)blockIdx.y);
}

template <class F>
inline void each_group(cudaStream_t stream, int64_t count, int groups, F f) {
    if (count <= 0 || groups <= 0) return;
    each_group_kernel<<<dim3((unsigned)blocks_for(count), (unsigned)groups), kThreads, 0, stream>>>(count, f);
}

// Same launch, read as "one thread per row": for row-wise math (softmax, losses) whose
// rows are short (a few classes); wide rows want a block per row instead.
template <class F>
inline void each_row(cudaStream_t stream, int64_t rows, F f) { each(stream, rows, f); }

// atomicAdd on doubles (native since sm_60): stats accumulate in double like the CPU's.
__device__ __forceinline__ void add_stat(double* s, double v) { atomicAdd(s, v); }
#endif  // KCC_CUDA_EMULATE

}  // namespace cuda
}  // namespace kcc

#endif  // KCC_CUDA_LAUNCH_CUH
