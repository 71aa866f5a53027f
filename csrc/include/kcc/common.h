// kcc/common.h: the few macros every generated unit and runtime file shares.
#ifndef KCC_COMMON_H
#define KCC_COMMON_H

#include <stdint.h>

// Scalar math in ops/*.h is written once and compiled for host and device.
#if defined(__CUDACC__)
#define KCC_HD __host__ __device__ __forceinline__
#else
#define KCC_HD inline __attribute__((always_inline))
#endif

#define KCC_RESTRICT __restrict__

namespace kcc {
// One worker's share of a reduction's n values: indices first, first + step, ... < n. The
// CPU templates run a row or channel whole (kWhole); a CUDA block gives its threads every
// step-th value (consecutive threads read consecutive floats) and folds their partial sums,
// so both backends call the same per-value math in ops/*.h.
struct Share {
    int64_t first, step;
    KCC_HD bool whole() const { return first == 0 && step == 1; }
};
}  // namespace kcc

// Start of slice `part` of `parts` over [0, size), on 16-element (64-byte) boundaries so
// threads sharing a buffer never write to one cache line.
inline int64_t kcc_slice(int64_t size, int64_t part, int64_t parts) {
    return part >= parts ? size : (size * part / parts) / 16 * 16;
}

#endif  // KCC_COMMON_H
