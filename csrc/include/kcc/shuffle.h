// kcc/shuffle.h: the order in which an epoch visits the samples. Both drivers (the CPU
// session, csrc/runtime; the CUDA driver, csrc/cuda) take it from here, so a seeded epoch
// visits the same batches on either device.
#ifndef KCC_SHUFFLE_H
#define KCC_SHUFFLE_H

#include <stdint.h>
#include <utility>
#include "kcc/ops/dropout.h"

namespace kcc {

// order[0, n) = 0, 1, ..., n - 1, then (when `shuffle`) a Fisher-Yates shuffle driven by
// splitmix64 from `seed` (kcc::dropout::mix is its output function): the order depends
// only on the seed.
inline void epoch_order(int64_t* order, int64_t n, bool shuffle, uint64_t seed) {
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    if (!shuffle) return;
    uint64_t state = seed;
    for (int64_t i = n - 1; i > 0; --i) {
        const uint64_t r = dropout::mix(state);
        state += 0x9E3779B97F4A7C15ull;
        std::swap(order[i], order[(int64_t)(r % (uint64_t)(i + 1))]);
    }
}

}  // namespace kcc

#endif  // KCC_SHUFFLE_H
