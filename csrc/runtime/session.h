// kcc runtime: drives one generated model unit (kcc/model_abi.h) through whole epochs.
//
// The Session owns everything a step touches except the weights (the layers' own
// buffers, bound by pointer): arena, gradients, optimizer state, batch staging. It is
// built once by CMake (never per model) and knows nothing about Python; the bindings
// in csrc/bindings wrap it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kcc/model_abi.h"
#include "kcc/export/pool.h"

namespace kcc {

// A batch-major array the caller owns: rows of `row_bytes` bytes, `rows` of them.
struct HostArray {
    const void* data = nullptr;
    int64_t rows = 0;
    int64_t row_bytes = 0;
};

// Called between batches (progress, callbacks). Returns true to stop training.
// Arguments: whether the batch is about to begin (else it just ended), batch index in
// the epoch, samples seen so far, the stat sums so far.
using BatchHook = std::function<bool(bool begin, int64_t batch, int64_t seen,
                                     const std::vector<double>& sums)>;

struct EpochResult {
    std::vector<double> sums;   // stat sums over the samples seen
    int64_t seen = 0;
    bool stopped = false;
};

class Session {
public:
    explicit Session(const std::string& library_path);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    const KccModelInfo& info() const { return *info_; }

    void bind_weights(const std::vector<float*>& weights);
    void reset_optimizer();                       // slots back to their initial values
    void set_hparams(const std::vector<float>& hparams);
    int64_t step() const { return step_; }        // optimizer iterations done
    void set_step(int64_t step) { step_ = step; }
    void set_threads(int threads);
    std::vector<float>& opt_state() { return opt_state_; }

    // One epoch of training over `n` samples. With `every_batch`, `hook` runs before and
    // after every batch; else after a batch when `interval_s` seconds passed since the last
    // call, and after the last batch (progress bars need no more).
    EpochResult train_epoch(const std::vector<HostArray>& x, const std::vector<HostArray>& y,
                            int64_t n, int64_t batch_size, bool shuffle, uint64_t seed,
                            const BatchHook& hook, bool every_batch, double interval_s);
    EpochResult test(const std::vector<HostArray>& x, const std::vector<HostArray>& y, int64_t n,
                     int64_t batch_size);
    void predict(const std::vector<HostArray>& x, const std::vector<float*>& out, int64_t n,
                 int64_t batch_size);
    // Forward + backward over all n rows as one batch, without an update: the gradients
    // stay in grads() (tests compare them with numerical gradients). The training forward
    // still moves a BatchNormalization's moving statistics, as a training step does.
    EpochResult gradients(const std::vector<HostArray>& x, const std::vector<HostArray>& y, int64_t n,
                          uint64_t seed);
    const std::vector<float>& grads() const { return grads_; }

private:
    // One slice of a batch on one thread: its own arena, gradients and accumulators.
    // Shard 0's gradients are grads_, the buffer the optimizer reads.
    struct Shard {
        float* arena = nullptr;
        std::vector<float> grads;
        std::vector<double> stats;
    };

    void ensure_capacity(int64_t rows);
    int parts_for(int64_t rows) const;
    // Threads a training step's batch is split over: parts_for, or 1 when the unit's
    // training forward needs the whole batch at once (KccModelInfo::whole_batch).
    int train_parts(int64_t rows) const;
    // ... and a test step's: 1 also when its losses need the whole batch (a masked loss
    // divides by the batch's kept steps: KCC_WHOLE_BATCH_TEST).
    int test_parts(int64_t rows) const;
    void blas_threads_for(int parts);
    // The run of one shard; `parts` threads share the batch, and when that is one (a batch
    // too small to split, or a whole-batch training step) the unit may borrow the pool for
    // its big ops (KccRun::parallel).
    KccRun make_run(int shard, int parts);
    static void parallel_entry(void* self, int64_t tasks, void (*fn)(void*, int64_t, int64_t),
                               void* ctx);
    // Forward + backward of `rows` gathered rows on `parts_for(rows)` threads, each into its
    // shard's gradients; with `reduce` they are then summed into grads_ (else the update
    // reads the shards itself). Stats are added to `sums`, always in shard order.
    void gradients_step(const std::vector<const void*>& in, const std::vector<const void*>& tg,
                        int64_t rows, uint64_t seed, std::vector<double>& sums, bool reduce);
    void* handle_ = nullptr;
    const KccModelInfo* info_ = nullptr;
    void (*predict_)(const KccRun*, int64_t) = nullptr;
    void (*test_step_)(const KccRun*, int64_t) = nullptr;
    void (*forward_backward_)(const KccRun*, int64_t) = nullptr;
    void (*apply_gradients_)(const KccRun*, int64_t, int64_t) = nullptr;
    void (*blas_set_threads_)(int) = nullptr;

    std::vector<float*> weights_;
    std::vector<float> grads_, opt_state_, hparams_;
    std::vector<Shard> shards_;
    int64_t capacity_ = 0;          // rows each shard's arena holds
    int64_t batch_capacity_ = 0;    // rows of the largest batch prepared for
    int64_t step_ = 0;
    int threads_ = 1;
    int blas_threads_now_ = -1;
    std::unique_ptr<exported::Pool> pool_;   // the export's pool: one implementation
    std::vector<float*> worker_ws_;  // each shard's fixed workspace, for KccRun::worker_ws
    std::vector<std::vector<unsigned char>> staging_x_, staging_y_;
    std::vector<int64_t> in_row_bytes_, tg_row_bytes_;
};

}  // namespace kcc
