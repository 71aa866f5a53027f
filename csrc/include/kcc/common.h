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

#endif  // KCC_COMMON_H
