// kcc runtime: the epoch loops. See session.h.
#include "session.h"


#include "kcc/common.h"
#include "kcc/shuffle.h"

#include <dlfcn.h>
#include <xmmintrin.h>
#include <pmmintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace kcc {
namespace {

// Rows per thread below which splitting a batch costs more than it saves.
constexpr int64_t kMinRowsPerShard = 8;

// Flush denormals to zero while our kernels run (recurrent gradients decay through
// denormals and can run several times slower), and give the caller its mode back.
struct FlushDenormals {
    unsigned int saved;
    FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040); }  // FTZ | DAZ
    ~FlushDenormals() { _mm_setcsr(saved); }
};

// task(k) for every k < parts on the pool's threads, the caller's included; returns when
// all are done. Shard k's data is indexed by k, not by the thread that runs it.
template <class Task>
void on_pool(exported::Pool& pool, int parts, Task task) {
    pool.run(parts, [](void* ctx, int64_t k, int64_t) { (*static_cast<Task*>(ctx))((int)k); }, &task);
}

template <class T>
T symbol(void* handle, const char* name, bool required = true) {
    void* p = dlsym(handle, name);
    if (!p && required) throw std::runtime_error(std::string("model library lacks ") + name);
    return reinterpret_cast<T>(p);
}

// Rows [begin, begin + count) of `a` (in `order` when given) as one contiguous block:
// a pointer into the caller's array when no gather is needed, else a copy in `stage`.
const void* batch_rows(const HostArray& a, const int64_t* order, int64_t begin, int64_t count,
                       std::vector<unsigned char>& stage) {
    const auto* base = static_cast<const unsigned char*>(a.data);
    if (!order) return base + begin * a.row_bytes;
    for (int64_t r = 0; r < count; ++r)
        std::memcpy(stage.data() + r * a.row_bytes, base + order[begin + r] * a.row_bytes,
                    (size_t)a.row_bytes);
    return stage.data();
}

const void* offset_rows(const void* p, int64_t rows, int64_t row_bytes) {
    return static_cast<const unsigned char*>(p) + rows * row_bytes;
}

}  // namespace

Session::Session(const std::string& path) {
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw std::runtime_error(std::string("cannot load model library: ") + dlerror());
    auto get_info = symbol<const KccModelInfo* (*)()>(handle_, "kcc_model_info");
    info_ = get_info();
    if (info_->abi_version != KCC_ABI_VERSION)
        throw std::runtime_error("model library was generated for another kcc ABI version");
    predict_ = symbol<decltype(predict_)>(handle_, "kcc_predict");
    test_step_ = symbol<decltype(test_step_)>(handle_, "kcc_test_step");
    forward_backward_ = symbol<decltype(forward_backward_)>(handle_, "kcc_forward_backward");
    apply_gradients_ = symbol<decltype(apply_gradients_)>(handle_, "kcc_apply_gradients");
    // Present when the unit links the scipy-openblas32 wheel; other BLAS builds may lack it.
    blas_set_threads_ = symbol<decltype(blas_set_threads_)>(handle_, "scipy_openblas_set_num_threads", false);
    grads_.assign((size_t)info_->grads_size, 0.0f);
    opt_state_.assign((size_t)info_->opt_state_size, 0.0f);
    hparams_.assign((size_t)std::max<int32_t>(info_->n_hparams, 1), 0.0f);
    for (int32_t i = 0; i < info_->n_inputs; ++i) in_row_bytes_.push_back(info_->inputs[i].size * 4);
    for (int32_t i = 0; i < info_->n_outputs && info_->targets; ++i)
        tg_row_bytes_.push_back(info_->targets[i].size * 4);
    set_threads(1);
    reset_optimizer();
}

Session::~Session() {
    pool_.reset();
    for (auto& s : shards_) std::free(s.arena);
    // The library stays loaded: a generated unit holds no state worth unloading, and
    // unloading one OpenBLAS user while another thread runs is asking for trouble.
}

void Session::set_threads(int threads) {
    threads = std::max(threads, 1);
    if (pool_ && threads == threads_) return;
    threads_ = threads;
    pool_ = std::make_unique<exported::Pool>(threads);
    for (auto& s : shards_) std::free(s.arena);
    shards_.assign((size_t)threads, Shard{});
    for (size_t k = 1; k < shards_.size(); ++k) shards_[k].grads.assign(grads_.size(), 0.0f);
    capacity_ = batch_capacity_ = 0;
}

void Session::bind_weights(const std::vector<float*>& weights) {
    if ((int32_t)weights.size() != info_->n_weights)
        throw std::invalid_argument("wrong number of weight buffers for this model");
    weights_ = weights;
}

void Session::reset_optimizer() {
    const int32_t slots = info_->n_opt_slots;
    for (int32_t w = 0; w < info_->n_weights; ++w) {
        const KccWeightInfo& wi = info_->weights[w];
        if (wi.state_offset < 0) continue;
        const int64_t stride = (wi.size + 15) / 16 * 16;
        for (int32_t s = 0; s < slots; ++s)
            std::fill_n(opt_state_.data() + wi.state_offset + s * stride, wi.size,
                        info_->opt_slot_init[s]);
    }
    step_ = 0;
}

void Session::set_hparams(const std::vector<float>& h) {
    if ((int32_t)h.size() != info_->n_hparams)
        throw std::invalid_argument("wrong number of optimizer hyperparameters");
    hparams_ = h;
}

int Session::parts_for(int64_t rows) const {
    return (int)std::max<int64_t>(1, std::min<int64_t>(threads_, rows / kMinRowsPerShard));
}

int Session::train_parts(int64_t rows) const {
    return info_->whole_batch ? 1 : parts_for(rows);
}

int Session::test_parts(int64_t rows) const {
    return (info_->whole_batch & KCC_WHOLE_BATCH_TEST) ? 1 : parts_for(rows);
}

// Every shard's arena holds the rows of the largest slice; staging holds a whole batch.
void Session::ensure_capacity(int64_t rows) {
    if (rows <= batch_capacity_) return;
    // The largest slice over every batch size up to `rows` (a short last batch may split
    // into fewer, larger slices than a full one; a whole-batch training step is one slice).
    int64_t per_shard = info_->whole_batch ? rows : 0;
    for (int64_t r = 1; r <= rows; ++r) per_shard = std::max(per_shard, (r + parts_for(r) - 1) / parts_for(r));
    const int64_t cap = std::max(per_shard, capacity_);
    const size_t bytes = ((size_t)std::max<int64_t>(info_->arena_per_sample, 16) * cap +
                          (size_t)info_->workspace_size) * sizeof(float);
    for (auto& s : shards_) {
        std::free(s.arena);
        s.arena = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
        if (!s.arena) throw std::bad_alloc();
    }
    capacity_ = cap;
    batch_capacity_ = rows;
    staging_x_.resize(in_row_bytes_.size());
    for (size_t i = 0; i < in_row_bytes_.size(); ++i) staging_x_[i].resize((size_t)(rows * in_row_bytes_[i]));
    staging_y_.resize(tg_row_bytes_.size());
    for (size_t i = 0; i < tg_row_bytes_.size(); ++i) staging_y_[i].resize((size_t)(rows * tg_row_bytes_[i]));
}

// One owner of the cores: ours. When our threads split a batch by rows, every GEMM runs
// single-threaded inside its thread (BLAS threads waking for the small GEMMs of a batch
// slice cost more than they save: measured in DESIGN.md). A batch too small to split
// (batch 1 inference) runs on one thread, which lends the pool to the unit's big ops
// (KccRun::parallel: a conv's bands, a wide GEMM's column slices). BLAS never threads: its
// spinning workers would compete with ours for the cores.
void Session::blas_threads_for(int parts) {
    (void)parts;
    if (blas_set_threads_ && blas_threads_now_ != 1) {
        blas_set_threads_(1);
        blas_threads_now_ = 1;
    }
}

// A unit's intra-op tasks on the pool (claimed one at a time, so uneven ones balance).
void Session::parallel_entry(void* self, int64_t tasks, void (*fn)(void*, int64_t, int64_t),
                             void* ctx) {
    static_cast<Session*>(self)->pool_->run(tasks, fn, ctx);
}

KccRun Session::make_run(int shard, int parts) {
    KccRun run{};
    if (parts == 1 && pool_->size() > 1) {
        worker_ws_.resize(shards_.size());
        for (size_t k = 0; k < shards_.size(); ++k)
            worker_ws_[k] = shards_[k].arena + info_->arena_per_sample * capacity_;
        run.parallel = &Session::parallel_entry;
        run.pool = this;
        run.workers = (int32_t)std::min<size_t>(shards_.size(), (size_t)pool_->size());
        run.worker_ws = worker_ws_.data();
    }
    run.weights = weights_.data();
    run.grads = shard == 0 ? grads_.data() : shards_[shard].grads.data();
    run.opt_state = opt_state_.data();
    run.arena = shards_[shard].arena;
    run.capacity = capacity_;
    run.hparams = hparams_.data();
    return run;
}

void Session::gradients_step(const std::vector<const void*>& in, const std::vector<const void*>& tg,
                             int64_t rows, uint64_t seed, std::vector<double>& sums, bool reduce) {
    const int parts = train_parts(rows);
    on_pool(*pool_, parts, [&](int k) {
        const int64_t lo = rows * k / parts, hi = rows * (k + 1) / parts;
        std::vector<const void*> sin(in.size()), stg(tg.size());
        for (size_t i = 0; i < in.size(); ++i) sin[i] = offset_rows(in[i], lo, in_row_bytes_[i]);
        for (size_t i = 0; i < tg.size(); ++i) stg[i] = offset_rows(tg[i], lo, tg_row_bytes_[i]);
        Shard& sh = shards_[k];
        sh.stats.assign(sums.size(), 0.0);
        KccRun run = make_run(k, parts);
        run.inputs = sin.data();
        run.targets = stg.data();
        run.stats = sh.stats.data();
        run.step = step_ + 1;
        run.seed = seed;
        run.row_offset = lo;
        run.batch_total = rows;     // every shard's loss is a share of the whole batch mean
        // the same values where a CUDA unit reads them (host-emulated units, kcc/cuda/runtime.cuh)
        const KccStepState state{run.step, run.seed, run.row_offset, 0};
        run.state = &state;
        forward_backward_(&run, hi - lo);
    });
    if (reduce && parts > 1) {      // grads_ += the other shards', slice by slice
        const int64_t n = (int64_t)grads_.size();
        on_pool(*pool_, parts, [&](int k) {
            const int64_t lo = kcc_slice(n, k, parts), hi = kcc_slice(n, k + 1, parts);
            float* g = grads_.data();
            for (int s = 1; s < parts; ++s) {
                const float* o = shards_[s].grads.data();
                for (int64_t j = lo; j < hi; ++j) g[j] += o[j];
            }
        });
    }
    for (int k = 0; k < parts; ++k)
        for (size_t i = 0; i < sums.size(); ++i) sums[i] += shards_[k].stats[i];
}

EpochResult Session::train_epoch(const std::vector<HostArray>& x, const std::vector<HostArray>& y,
                                 int64_t n, int64_t batch_size, bool shuffle, uint64_t seed,
                                 const BatchHook& hook, bool every_batch, double interval_s) {
    if (!info_->trainable) throw std::logic_error("model was not compiled for training");
    if ((int32_t)weights_.size() != info_->n_weights) throw std::logic_error("weights not bound");
    ensure_capacity(std::min(batch_size, n));
    blas_threads_for(train_parts(batch_size));
    FlushDenormals ftz;

    std::vector<int64_t> order;
    if (shuffle) {
        order.resize((size_t)n);
        epoch_order(order.data(), n, true, seed);
    }
    EpochResult res;
    res.sums.assign((size_t)info_->n_stats, 0.0);
    std::vector<const void*> in(x.size()), tg(y.size());
    auto last = std::chrono::steady_clock::now();
    int64_t batch = 0;
    for (int64_t begin = 0; begin < n; begin += batch_size, ++batch) {
        const int64_t rows = std::min(batch_size, n - begin);   // the last partial batch trains too
        if (hook && every_batch && hook(true, batch, res.seen, res.sums)) { res.stopped = true; break; }
        for (size_t i = 0; i < x.size(); ++i)
            in[i] = batch_rows(x[i], shuffle ? order.data() : nullptr, begin, rows, staging_x_[i]);
        for (size_t i = 0; i < y.size(); ++i)
            tg[i] = batch_rows(y[i], shuffle ? order.data() : nullptr, begin, rows, staging_y_[i]);
        gradients_step(in, tg, rows, seed, res.sums, /*reduce=*/false);
        const int parts = train_parts(rows);
        std::vector<const float*> shards;   // the update sums the threads' gradients as it reads
        for (int k = 1; k < parts; ++k) shards.push_back(shards_[k].grads.data());
        KccRun run = make_run(0, parts);
        run.step = step_ + 1;
        const KccStepState state{run.step, seed, 0, 0};
        run.state = &state;
        run.grad_shards = shards.data();
        run.n_grad_shards = (int32_t)shards.size();
        on_pool(*pool_, parts, [&](int k) { apply_gradients_(&run, k, parts); });
        ++step_;
        res.seen += rows;
        if (hook) {
            const auto now = std::chrono::steady_clock::now();
            const bool final_batch = begin + rows >= n;
            if (every_batch || final_batch ||
                std::chrono::duration<double>(now - last).count() >= interval_s) {
                last = now;
                if (hook(false, batch, res.seen, res.sums)) { res.stopped = true; break; }
            }
        }
    }
    return res;
}

EpochResult Session::gradients(const std::vector<HostArray>& x, const std::vector<HostArray>& y,
                               int64_t n, uint64_t seed) {
    if (!info_->trainable) throw std::logic_error("model was not compiled for training");
    ensure_capacity(n);
    blas_threads_for(train_parts(n));
    FlushDenormals ftz;
    EpochResult res;
    res.sums.assign((size_t)info_->n_stats, 0.0);
    std::vector<const void*> in(x.size()), tg(y.size());
    for (size_t i = 0; i < x.size(); ++i) in[i] = x[i].data;
    for (size_t i = 0; i < y.size(); ++i) tg[i] = y[i].data;
    gradients_step(in, tg, n, seed, res.sums, /*reduce=*/true);
    res.seen = n;
    return res;
}

EpochResult Session::test(const std::vector<HostArray>& x, const std::vector<HostArray>& y,
                          int64_t n, int64_t batch_size) {
    ensure_capacity(std::min(batch_size, n));
    blas_threads_for(test_parts(std::min(batch_size, n)));
    FlushDenormals ftz;
    EpochResult res;
    res.sums.assign((size_t)info_->n_stats, 0.0);
    for (int64_t begin = 0; begin < n; begin += batch_size) {
        const int64_t rows = std::min(batch_size, n - begin);
        const int parts = test_parts(rows);
        on_pool(*pool_, parts, [&](int k) {
            const int64_t lo = begin + rows * k / parts, hi = begin + rows * (k + 1) / parts;
            std::vector<const void*> in(x.size()), tg(y.size());
            for (size_t i = 0; i < x.size(); ++i) in[i] = offset_rows(x[i].data, lo, x[i].row_bytes);
            for (size_t i = 0; i < y.size(); ++i) tg[i] = offset_rows(y[i].data, lo, y[i].row_bytes);
            Shard& sh = shards_[k];
            sh.stats.assign(res.sums.size(), 0.0);
            KccRun run = make_run(k, parts);
            run.inputs = in.data();
            run.targets = tg.data();
            run.stats = sh.stats.data();
            run.batch_total = rows;
            test_step_(&run, hi - lo);
        });
        for (int k = 0; k < parts; ++k)
            for (size_t i = 0; i < res.sums.size(); ++i) res.sums[i] += shards_[k].stats[i];
        res.seen += rows;
    }
    return res;
}

void Session::predict(const std::vector<HostArray>& x, const std::vector<float*>& out, int64_t n,
                      int64_t batch_size) {
    ensure_capacity(std::min(batch_size, n));
    blas_threads_for(parts_for(std::min(batch_size, n)));
    FlushDenormals ftz;
    for (int64_t begin = 0; begin < n; begin += batch_size) {
        const int64_t rows = std::min(batch_size, n - begin);
        const int parts = parts_for(rows);
        on_pool(*pool_, parts, [&](int k) {
            const int64_t lo = begin + rows * k / parts, hi = begin + rows * (k + 1) / parts;
            std::vector<const void*> in(x.size());
            std::vector<float*> o(out.size());
            for (size_t i = 0; i < x.size(); ++i) in[i] = offset_rows(x[i].data, lo, x[i].row_bytes);
            for (size_t i = 0; i < out.size(); ++i) o[i] = out[i] + lo * info_->outputs[i].size;
            KccRun run = make_run(k, parts);
            run.inputs = in.data();
            run.outputs = o.data();
            run.batch_total = hi - lo;
            predict_(&run, hi - lo);
        });
    }
}

}  // namespace kcc
