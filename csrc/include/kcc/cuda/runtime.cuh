// kcc/cuda/runtime.cuh: the CUDA runtime for generated CUDA units, or its host emulation.
//
// Built normally (nvcc), this is <cuda_runtime.h>. Built by a host C++ compiler with
// -DKCC_CUDA_EMULATE, the same generated unit becomes a plain host library: kernels are
// loops (kcc/cuda/launch.cuh, gemm.cuh), device memory is host memory, and the async
// copies are memcpy. CI has no GPU; the emulated unit, driven by the CPU runtime, checks
// every CUDA template's index math, strides and accumulate-or-overwrite decisions against
// the C++ unit (tests/cuda/test_emulated.py). It says nothing about races, occupancy or
// speed: the GPU tests cover those.
#ifndef KCC_CUDA_RUNTIME_CUH
#define KCC_CUDA_RUNTIME_CUH

#ifdef KCC_CUDA_EMULATE
#include <stddef.h>
#include <string.h>

#define __device__
#define __host__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)

typedef void* cudaStream_t;
typedef int cudaError_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };

inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t = nullptr) {
    memset(p, value, bytes);
    return 0;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind,
                                   cudaStream_t = nullptr) {
    memmove(dst, src, bytes);
    return 0;
}
#else
#include <cuda_runtime.h>
#endif

#endif  // KCC_CUDA_RUNTIME_CUH
