// kcc/ops/noise.h: GaussianNoise (y = x + stddev z) and GaussianDropout (y = x (1 + stddev z))
// with z ~ N(0, 1) a pure function of (seed, step, row, column), drawn from dropout's hash
// (kcc/ops/dropout.h), so backward recomputes it instead of storing it, the result does not
// depend on how rows are split across threads, and the CPU and CUDA units agree.
#ifndef KCC_OPS_NOISE_H
#define KCC_OPS_NOISE_H

#include <math.h>
#include <stdint.h>
#include "kcc/common.h"
#include "kcc/ops/dropout.h"

namespace kcc {
namespace noise {

// Box-Muller on two 24-bit uniforms of one hash: u1 in (0, 1] (log finite), u2 in [0, 1).
KCC_HD float normal(uint64_t seed, int64_t step, int64_t row, int64_t col) {
    const uint64_t h = kcc::dropout::hash(seed, step, row, col);
    const float u1 = (float)((h >> 40) + 1) * (1.0f / 16777216.0f);
    const float u2 = (float)((h >> 16) & 0xFFFFFFu) * (1.0f / 16777216.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

// The noisy x; `multiply`: GaussianDropout's factor, else GaussianNoise's offset.
KCC_HD float forward(float x, uint64_t seed, int64_t step, int64_t row, int64_t col,
                     float stddev, bool multiply) {
    const float z = stddev * normal(seed, step, row, col);
    return multiply ? x * (1.0f + z) : x + z;
}

// d loss / d x from d loss / d y: the same factor (GaussianDropout) or dy itself.
KCC_HD float backward(float dy, uint64_t seed, int64_t step, int64_t row, int64_t col,
                      float stddev, bool multiply) {
    return multiply ? dy * (1.0f + stddev * normal(seed, step, row, col)) : dy;
}

}  // namespace noise
}  // namespace kcc

#endif  // KCC_OPS_NOISE_H
