// kcc/ops/dropout.h: inverted dropout whose mask is a pure function of
// (seed, step, row, column), so backward recomputes it instead of storing it, and the
// result does not depend on how rows are split across threads. A noise_shape maps an
// element's (row, column) to the shared mask element's first (shared_col; row 0 when all
// samples share one mask).
#ifndef KCC_OPS_DROPOUT_H
#define KCC_OPS_DROPOUT_H

#include <stdint.h>
#include "kcc/common.h"

namespace kcc {
namespace dropout {

// splitmix64 finalizer: a strong 64-bit mix, cheap enough to run per element.
KCC_HD uint64_t mix(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// The 64 random bits of element (row, col) at a training step: every random layer draws
// from them (kcc/ops/noise.h too).
KCC_HD uint64_t hash(uint64_t seed, int64_t step, int64_t row, int64_t col) {
    return mix(mix(seed ^ mix((uint64_t)step)) ^ mix(((uint64_t)row << 32) ^ (uint64_t)col));
}

// 1/keep where the element is kept, 0 where dropped.
KCC_HD float scale(uint64_t seed, int64_t step, int64_t row, int64_t col, float rate) {
    const uint64_t h = hash(seed, step, row, col);
    const float u = (float)(h >> 40) * (1.0f / 16777216.0f);  // uniform in [0, 1), 24 bits
    return u >= rate ? 1.0f / (1.0f - rate) : 0.0f;
}

// Column j of a sample with its coordinate along one shared group of axes (the flattened
// sample's `stride`, `size` elements of it) zeroed: the mask element a noise_shape with 1s
// there gives j. Shared groups are applied one after another.
KCC_HD int64_t shared_col(int64_t j, int64_t stride, int64_t size) {
    return j - (j / stride % size) * stride;
}

}  // namespace dropout
}  // namespace kcc

#endif  // KCC_OPS_DROPOUT_H
