// kcc runtime: the epoch loops. See session.h.
#include "session.h"

#include <dlfcn.h>
#include <xmmintrin.h>
#include <pmmintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace kcc {
namespace {

// Flush denormals to zero while our kernels run (recurrent gradients decay through
// denormals and can run several times slower), and give the caller its mode back.
struct FlushDenormals {
    unsigned int saved;
    FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040); }  // FTZ | DAZ
    ~FlushDenormals() { _mm_setcsr(saved); }
};

uint64_t splitmix(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Fisher-Yates with our own generator: the order depends only on the seed.
void shuffle_order(std::vector<int64_t>& order, uint64_t seed) {
    uint64_t state = seed;
    for (int64_t i = (int64_t)order.size() - 1; i > 0; --i) {
        const int64_t j = (int64_t)(splitmix(state) % (uint64_t)(i + 1));
        std::swap(order[i], order[j]);
    }
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
    reset_optimizer();
}

Session::~Session() {
    std::free(arena_);
    // The library stays loaded: a generated unit holds no state worth unloading, and
    // unloading one OpenBLAS user while another thread runs is asking for trouble.
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

void Session::ensure_capacity(int64_t rows) {
    if (rows <= capacity_) return;
    std::free(arena_);
    const size_t bytes = (size_t)std::max<int64_t>(info_->arena_per_sample, 16) * rows * sizeof(float);
    arena_ = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!arena_) throw std::bad_alloc();
    capacity_ = rows;
    staging_x_.resize(info_->n_inputs);
    for (int32_t i = 0; i < info_->n_inputs; ++i)
        staging_x_[i].resize((size_t)(rows * info_->inputs[i].size * 4));
    staging_y_.resize(info_->n_outputs);
    for (int32_t i = 0; i < info_->n_outputs && info_->targets; ++i)
        staging_y_[i].resize((size_t)(rows * info_->targets[i].size * 4));
}

// One owner of the cores at a time: small GEMMs run faster single-threaded (thread
// wake-up costs more than the work), large ones want every core.
void Session::set_blas_threads(int64_t batch_rows) {
    if (!blas_set_threads_) return;
    const int want = batch_rows >= 512 ? threads_ : 1;
    if (want != blas_threads_now_) {
        blas_set_threads_(want);
        blas_threads_now_ = want;
    }
}

KccRun Session::make_run() {
    KccRun run{};
    run.weights = weights_.data();
    run.grads = grads_.data();
    run.opt_state = opt_state_.data();
    run.arena = arena_;
    run.capacity = capacity_;
    run.hparams = hparams_.data();
    return run;
}

EpochResult Session::train_epoch(const std::vector<HostArray>& x, const std::vector<HostArray>& y,
                                 int64_t n, int64_t batch_size, bool shuffle, uint64_t seed,
                                 const BatchHook& hook, bool every_batch, double interval_s) {
    if (!info_->trainable) throw std::logic_error("model was not compiled for training");
    if ((int32_t)weights_.size() != info_->n_weights) throw std::logic_error("weights not bound");
    ensure_capacity(std::min(batch_size, n));
    set_blas_threads(batch_size);
    FlushDenormals ftz;

    std::vector<int64_t> order;
    if (shuffle) {
        order.resize((size_t)n);
        std::iota(order.begin(), order.end(), 0);
        shuffle_order(order, seed);
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
        KccRun run = make_run();
        run.inputs = in.data();
        run.targets = tg.data();
        run.stats = res.sums.data();
        run.step = step_ + 1;
        run.seed = seed;
        run.batch_total = rows;
        forward_backward_(&run, rows);
        apply_gradients_(&run);
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

EpochResult Session::test(const std::vector<HostArray>& x, const std::vector<HostArray>& y,
                          int64_t n, int64_t batch_size) {
    ensure_capacity(std::min(batch_size, n));
    set_blas_threads(batch_size);
    FlushDenormals ftz;
    EpochResult res;
    res.sums.assign((size_t)info_->n_stats, 0.0);
    std::vector<const void*> in(x.size()), tg(y.size());
    for (int64_t begin = 0; begin < n; begin += batch_size) {
        const int64_t rows = std::min(batch_size, n - begin);
        for (size_t i = 0; i < x.size(); ++i) in[i] = batch_rows(x[i], nullptr, begin, rows, staging_x_[i]);
        for (size_t i = 0; i < y.size(); ++i) tg[i] = batch_rows(y[i], nullptr, begin, rows, staging_y_[i]);
        KccRun run = make_run();
        run.inputs = in.data();
        run.targets = tg.data();
        run.stats = res.sums.data();
        run.batch_total = rows;
        test_step_(&run, rows);
        res.seen += rows;
    }
    return res;
}

EpochResult Session::gradients(const std::vector<HostArray>& x, const std::vector<HostArray>& y,
                               int64_t n, uint64_t seed) {
    if (!info_->trainable) throw std::logic_error("model was not compiled for training");
    ensure_capacity(n);
    set_blas_threads(n);
    FlushDenormals ftz;
    EpochResult res;
    res.sums.assign((size_t)info_->n_stats, 0.0);
    std::vector<const void*> in(x.size()), tg(y.size());
    for (size_t i = 0; i < x.size(); ++i) in[i] = x[i].data;
    for (size_t i = 0; i < y.size(); ++i) tg[i] = y[i].data;
    KccRun run = make_run();
    run.inputs = in.data();
    run.targets = tg.data();
    run.stats = res.sums.data();
    run.step = step_ + 1;
    run.seed = seed;
    run.batch_total = n;
    forward_backward_(&run, n);
    res.seen = n;
    return res;
}

void Session::predict(const std::vector<HostArray>& x, const std::vector<float*>& out, int64_t n,
                      int64_t batch_size) {
    ensure_capacity(std::min(batch_size, n));
    set_blas_threads(batch_size);
    FlushDenormals ftz;
    std::vector<const void*> in(x.size());
    std::vector<float*> o(out.size());
    for (int64_t begin = 0; begin < n; begin += batch_size) {
        const int64_t rows = std::min(batch_size, n - begin);
        for (size_t i = 0; i < x.size(); ++i) in[i] = batch_rows(x[i], nullptr, begin, rows, staging_x_[i]);
        for (size_t i = 0; i < out.size(); ++i) o[i] = out[i] + begin * info_->outputs[i].size;
        KccRun run = make_run();
        run.inputs = in.data();
        run.outputs = o.data();
        run.batch_total = rows;
        predict_(&run, rows);
    }
}

}  // namespace kcc
