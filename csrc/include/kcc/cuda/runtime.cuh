// kcc/cuda/runtime.cuh: the CUDA runtime for generated CUDA units, or its host emulation.
//
// Built normally (nvcc), this is <cuda_runtime.h>. Built by a host C++ compiler with
// -DKCC_CUDA_EMULATE, the same generated unit becomes a plain host library: kernels are
// loops (kcc/cuda/launch.cuh, gemm.cuh), device memory is host memory, and the async
// copies are memcpy. CI has no GPU; the emulated unit, driven by the CPU runtime, checks
// every CUDA template's index math, strides and accumulate-or-overwrite decisions against
// the C++ unit (tests/cuda/test_emulated.py); built the same way, the driver too runs
// on the host (KCC_CUDA_EMULATE=1, kcc/runtime/cuda.py), so CI runs device='cuda' fit,
// weight sync and data streaming. kcc::cuda::emulate below makes it refuse what a GPU would
// (misaligned float4, oversized blocks and grids) and expose races between threads; it
// says nothing about occupancy or speed: the GPU tests cover those.
#ifndef KCC_CUDA_RUNTIME_CUH
#define KCC_CUDA_RUNTIME_CUH

#ifdef KCC_CUDA_EMULATE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define __device__
#define __host__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)

// The runtime calls kcc's generated units and its driver (csrc/cuda/session.cu) make, on
// host memory. Work runs when it is enqueued, so a stream is always idle and an event
// always complete. Graph capture is not emulated: the driver replays a step by enqueueing
// it again (its launch_step).
typedef void* cudaStream_t;
typedef void* cudaEvent_t;
typedef void* cudaGraphExec_t;   // declared only: nothing is captured
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum { cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };

inline const char* cudaGetErrorString(cudaError_t e) {
    return e == cudaSuccess ? "no error" : e == cudaErrorMemoryAllocation ? "out of memory" : "error";
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
    *p = aligned_alloc(256, (bytes + 255) / 256 * 256);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
template <class T>   // as cuda_runtime.h: any pointer type
inline cudaError_t cudaMalloc(T** p, size_t bytes) { return cudaMalloc(reinterpret_cast<void**>(p), bytes); }
inline cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
inline cudaError_t cudaFree(void* p) { free(p); return cudaSuccess; }
inline cudaError_t cudaFreeHost(void* p) { free(p); return cudaSuccess; }
// The host has no device memory to report: "plenty", so data stays resident unless the
// driver is told a budget (KCC_CUDA_DATA_BYTES).
inline cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    *free_bytes = *total_bytes = (size_t)1 << 40;
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t = nullptr) {
    memset(p, value, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, size_t bytes) { return cudaMemsetAsync(p, value, bytes); }
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind,
                                   cudaStream_t = nullptr) {
    memmove(dst, src, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
    return cudaMemcpyAsync(dst, src, bytes, kind);
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { *s = nullptr; return cudaSuccess; }
inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { *e = nullptr; return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = nullptr) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

#include <stdexcept>
#include <string>

namespace kcc {
namespace cuda {
namespace emulate {
// What the GPU would refuse or get wrong but a host loop would not: a check here fails the
// emulated call with an exception (the driver and the Python bindings report it).
inline void require(bool ok, const std::string& what) {
    if (!ok) throw std::logic_error("kcc CUDA emulation: " + what);
}
// The order a launch's threads run in. A GPU gives none, so a kernel whose result depends on
// it has a race; the emulation alternates launches between ascending and descending order
// (blocks of one launch: by index parity), so such a kernel disagrees with the CPU unit in
// at least one of them. Per host thread: emulated units may run on the CPU runtime's pool.
inline bool next_launch_descends() {
    static thread_local unsigned launches = 0;
    return (launches++ & 1u) != 0;
}
// A float4 access needs a 16-byte aligned address (else the GPU faults: misaligned address).
inline void require_aligned16(const void* p, const char* what) {
    require(((uintptr_t)p & 15) == 0, std::string(what) + " of 4 floats at an address not 16-byte aligned");
}
}  // namespace emulate
}  // namespace cuda
}  // namespace kcc
#else
#include <cuda_runtime.h>
#endif

#endif  // KCC_CUDA_RUNTIME_CUH
