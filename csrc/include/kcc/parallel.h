// kcc/parallel.h: intra-op parallelism of a generated unit, through the caller's threads.
//
// At batch 1 the runtime cannot split the batch over its threads; an op with independent
// pieces of work (a conv's bands of tile rows) hands them to KccRun::parallel instead.
// Each task gets the worker that runs it, and with it that worker's own copy of the fixed
// workspace (same layout, another base), so tasks never share scratch. Without the hook
// (a split batch, or a caller without threads) the tasks run here, in order, on this
// thread's workspace.
#ifndef KCC_PARALLEL_H
#define KCC_PARALLEL_H

#include <stdint.h>
#include <vector>
#include "kcc/gemm.h"
#include "kcc/model_abi.h"

namespace kcc {

// Workers that parallel_for can use: 1 when the tasks will run in order here.
inline int64_t workers(const KccRun* run) {
    return run && run->parallel && run->workers > 1 ? run->workers : 1;
}

// `run` for an op of `work` multiply-adds worth splitting, else null (it runs here): below
// about a million, waking a worker costs more than it saves.
inline const KccRun* lend(const KccRun* run, double work) {
    return work < (double)(1 << 20) ? nullptr : run;
}

// body(task, shift) for every task in [0, tasks): `shift` moves a pointer into this thread's
// workspace (`ws`, WS of the step) to the same place in the running worker's.
template <class Body>
inline void parallel_for(const KccRun* run, const float* ws, int64_t tasks, Body body) {
    if (workers(run) == 1 || tasks <= 1) {
        for (int64_t t = 0; t < tasks; ++t) body(t, (int64_t)0);
        return;
    }
    struct Ctx {
        Body* body;
        const KccRun* run;
        const float* ws;
    } ctx{&body, run, ws};
    run->parallel(run->pool, tasks, [](void* p, int64_t task, int64_t worker) {
        Ctx& c = *(Ctx*)p;
        (*c.body)(task, ((intptr_t)c.run->worker_ws[worker] - (intptr_t)c.ws) / (intptr_t)sizeof(float));
    }, &ctx);
}

// kcc::gemm on the caller's threads: each worker computes a slice of C's columns or rows,
// whichever side is longer, with the single-threaded BLAS. Small products, where
// waking a thread costs more than it saves, run here.
inline void gemm(const KccRun* run, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                 float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                 float* c, int64_t ldc) {
    const int64_t parts = workers(lend(run, (double)m * (double)n * (double)k));
    if (parts == 1) {
        gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (m * n <= 4096 && k >= 256 * parts && !trans_b) {
        // A small output from a long reduction (a batch-1 Dense over 160256 inputs): each
        // worker streams its own contiguous rows of B into a partial result, summed after
        // in worker order. VQA's 641 MB weight: 21.2 ms against 23.4 splitting C's columns
        // (then every worker reads every row, in pieces).
        std::vector<float> partial((size_t)((parts - 1) * m * n));
        parallel_for(run, nullptr, parts, [&](int64_t part, int64_t) {
            const int64_t lo = k * part / parts, hi = k * (part + 1) / parts;
            const float* ap = trans_a ? a + lo * lda : a + lo;
            if (part == 0)
                gemm(trans_a, false, m, n, hi - lo, alpha, ap, lda, b + lo * ldb, ldb, beta, c, ldc);
            else
                gemm(trans_a, false, m, n, hi - lo, alpha, ap, lda, b + lo * ldb, ldb, 0.0f,
                     partial.data() + (part - 1) * m * n, n);
        });
        for (int64_t p = 1; p < parts; ++p)
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < n; ++j) c[i * ldc + j] += partial[(size_t)(((p - 1) * m + i) * n + j)];
        return;
    }
    // the longer side of C: a tall C (a batch through a Dense) by rows, a wide one by columns
    const bool by_cols = n >= m && n >= 32 * parts;
    const int64_t len = by_cols ? n : m;
    parallel_for(run, nullptr, parts, [&](int64_t part, int64_t) {
        // slices on 16-float boundaries, so two workers never write one cache line of C
        const int64_t lo = kcc_slice(len, part, parts), hi = kcc_slice(len, part + 1, parts);
        if (hi <= lo) return;
        if (by_cols)
            gemm(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, trans_b ? b + lo * ldb : b + lo, ldb,
                 beta, c + lo, ldc);
        else
            gemm(trans_a, trans_b, hi - lo, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda, b, ldb,
                 beta, c + lo * ldc, ldc);
    });
}

}  // namespace kcc

#endif  // KCC_PARALLEL_H
