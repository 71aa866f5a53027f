// kcc CUDA driver: runs one generated CUDA unit (kcc/model_abi.h with device pointers)
// through whole epochs on the GPU. The CUDA twin of csrc/runtime/session.cpp.
//
// Built once per machine into the kcc cache by kcc/runtime/cuda.py (nvcc), loaded with
// ctypes; it dlopens the model's unit. What lives on the device: the weights (a copy of
// the layers' host buffers, synced at the boundaries kcc/runtime/cuda.py documents),
// gradients, optimizer state, hyperparameters, the activation arena, the step state, and
// the data of the current fit/evaluate/predict call, copied in once per call when it fits
// (DataSlot: "resident"), else streamed in batch by batch ("streamed").
//
// A training step is captured once per batch size as a CUDA graph: gather the batch rows
// (by the epoch's order, from the cursor in device memory), forward + backward, the
// optimizer update, and advancing the step and cursor. An epoch is then one graph launch
// per batch and no host work between them; the host synchronizes only to report progress.
// Streamed data: the host gathers each batch's rows into pinned memory while the previous
// step runs, one copy per input moves them in, and the step's graph starts after the gather.
//
// Built with -DKCC_CUDA_EMULATE by a host compiler (kcc/cuda/runtime.cuh), the same driver
// runs emulated units on the CPU for the tests: steps are enqueued again instead of
// replayed from a graph, nothing else changes.
//
// Every entry point returns 0 or -1; kcc_cuda_last_error() says what went wrong.
#include <dlfcn.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "kcc/cuda/launch.cuh"
#include "kcc/model_abi.h"
#include "kcc/shuffle.h"

namespace {

thread_local std::string g_error;

struct CudaError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw CudaError(std::string(what) + ": " + cudaGetErrorString(e));
}

// dst row r = src row order[cursor + r] (row cursor + r without an order); rows are
// `words` 4-byte words (float or int32). The cursor is read on the device, so one captured
// graph serves every batch of an epoch (or of an evaluate / predict call).
// Indices within a launch stay in 32 bits, where the GPU divides in a few instructions (a
// 64-bit division is a software routine several times longer); a batch of more than 4 G
// words (16 GB) takes several launches.
void gather_rows(cudaStream_t s, uint32_t* dst, const uint32_t* src, const int64_t* order,
                 const KccStepState* state, int64_t rows, int64_t words) {
    if (rows <= 0 || words <= 0) return;
    const int64_t per_launch = (int64_t)UINT32_MAX / words;
    const uint32_t w = (uint32_t)words;
    for (int64_t first = 0; first < rows; first += per_launch) {
        const int64_t n = rows - first < per_launch ? rows - first : per_launch;
        uint32_t* out = dst + first * words;
        kcc::cuda::each(s, n * words, [=] __device__(int64_t i) {
            const uint32_t k = (uint32_t)i, row = k / w;
            const int64_t r = state->cursor + first + row;
            out[i] = src[(order ? order[r] : r) * words + (k - row * w)];
        });
    }
}

// The next batch: `rows` on, and (training) one optimizer step on.
void advance(cudaStream_t s, KccStepState* state, int64_t rows, int64_t steps) {
    kcc::cuda::each(s, 1, [=] __device__(int64_t) {
        state->step += steps;
        state->cursor += rows;
    });
}

void set_cursor(cudaStream_t s, KccStepState* state, int64_t cursor) {
    kcc::cuda::each(s, 1, [=] __device__(int64_t) { state->cursor = cursor; });
}

void set_state(cudaStream_t s, KccStepState* state, int64_t step, uint64_t seed, int64_t cursor) {
    kcc::cuda::each(s, 1, [=] __device__(int64_t) {
        state->step = step;
        state->seed = seed;
        state->row_offset = 0;
        state->cursor = cursor;
    });
}

template <class T>
T* device_alloc(size_t count) {
    void* p = nullptr;
    if (count == 0) count = 1;
    check(cudaMalloc(&p, count * sizeof(T)), "cudaMalloc");
    return static_cast<T*>(p);
}

// The data of one call (fit, validation/evaluate, predict). Resident: on the device,
// copied in once. Buffers are kept between calls and reallocated only to grow:
// predict_on_batch in a loop then costs a copy, not a cudaMalloc/cudaFree pair, and the
// captured training graphs (which read slot 0's buffers) stay valid from one fit call to
// the next. Streamed (more data than the device budget): the caller's host arrays, which
// it keeps alive until the next set_data on this slot (kcc/runtime/cuda_session.py does).
struct DataSlot {
    std::vector<void*> x, y;              // device buffers, resident data
    std::vector<const void*> hx, hy;      // host arrays, streamed data
    int64_t rows = 0;       // rows of the current data
    int64_t capacity = 0;   // rows the device buffers hold
    bool has_targets = false;
    bool streamed = false;
    void release() {
        for (void* p : x) cudaFree(p);
        for (void* p : y) cudaFree(p);
        x.clear();
        y.clear();
        capacity = 0;
    }
    const void* host(int i, bool target) const { return target ? hy[(size_t)i] : hx[(size_t)i]; }
};

typedef int (*Hook)(void* ctx, int begin, int64_t batch, int64_t seen, const double* sums);

struct Session {
    void* handle = nullptr;
    const KccModelInfo* info = nullptr;
    void (*predict)(const KccRun*, int64_t) = nullptr;
    void (*test_step)(const KccRun*, int64_t) = nullptr;
    void (*forward_backward)(const KccRun*, int64_t) = nullptr;
    void (*apply_gradients)(const KccRun*, int64_t, int64_t) = nullptr;

    cudaStream_t stream = nullptr;
    std::vector<float*> weights;
    float* grads = nullptr;
    float* opt_state = nullptr;
    float* hparams = nullptr;
    double* stats = nullptr;
    KccStepState* state = nullptr;
    int64_t* order = nullptr;
    int64_t order_rows = 0;
    float* arena = nullptr;
    int64_t capacity = 0;
    std::vector<void*> batch_x, batch_y;   // fixed addresses the captured graphs read
    std::vector<float*> out;               // predict outputs, capacity rows
    DataSlot data[3];
    // A captured step per (kind, data slot, batch size, streamed): a streamed step's batch
    // is already in batch_x/batch_y, a resident one gathers it from the slot first.
    enum Kind { kTrain, kTest, kPredict };
    using GraphKey = std::tuple<int, int, int64_t, bool>;
    std::map<GraphKey, cudaGraphExec_t> graphs;
    int64_t step = 0;
    int64_t calls = 0;   // device calls so far: train_epoch sees whether a callback made one
    std::vector<int64_t> in_words, tg_words;
    int64_t data_budget = -1;   // bytes of data kept on the device; -1: 3/4 of what is free
    // Streaming: two pinned staging buffers of capacity rows (inputs, then targets), each
    // with an event marking when the device has finished copying out of it.
    void* stage[2] = {nullptr, nullptr};
    cudaEvent_t staged[2] = {nullptr, nullptr};
    int64_t stage_rows = 0;
    // Predictions leave through two pinned buffers of capacity rows (every output, one
    // after the other), each with an event marking when a batch's copy into it is done:
    // the device runs batch k while the host moves batch k - 1 into the caller's arrays.
    // (A copy into pageable memory would hold the host until it ends, so the next batch's
    // launch would wait for it, and the device would wait for the launch.)
    void* fetch[2] = {nullptr, nullptr};
    cudaEvent_t fetched[2] = {nullptr, nullptr};
    int64_t fetch_rows = 0;

    explicit Session(const char* path) {
        handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!handle) throw std::runtime_error(std::string("cannot load model library: ") + dlerror());
        info = reinterpret_cast<const KccModelInfo* (*)()>(sym("kcc_model_info"))();
        if (info->abi_version != KCC_ABI_VERSION)
            throw std::runtime_error("model library was generated for another kcc ABI version");
        predict = reinterpret_cast<decltype(predict)>(sym("kcc_predict"));
        test_step = reinterpret_cast<decltype(test_step)>(sym("kcc_test_step"));
        forward_backward = reinterpret_cast<decltype(forward_backward)>(sym("kcc_forward_backward"));
        apply_gradients = reinterpret_cast<decltype(apply_gradients)>(sym("kcc_apply_gradients"));
        check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
        for (cudaEvent_t& e : staged) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
        for (cudaEvent_t& e : fetched) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
        for (int32_t i = 0; i < info->n_weights; ++i) weights.push_back(device_alloc<float>(info->weights[i].size));
        grads = device_alloc<float>(info->grads_size);
        opt_state = device_alloc<float>(info->opt_state_size);
        hparams = device_alloc<float>(info->n_hparams > 0 ? info->n_hparams : 1);
        stats = device_alloc<double>(info->n_stats > 0 ? info->n_stats : 1);
        state = device_alloc<KccStepState>(1);
        for (int32_t i = 0; i < info->n_inputs; ++i) in_words.push_back(info->inputs[i].size);
        for (int32_t i = 0; info->targets && i < info->n_outputs; ++i) tg_words.push_back(info->targets[i].size);
        check(cudaMemset(grads, 0, sizeof(float) * (info->grads_size > 0 ? info->grads_size : 1)), "cudaMemset");
        reset_optimizer();
    }

    ~Session() {
        cudaStreamSynchronize(stream);
        drop_graphs();
        for (auto& d : data) d.release();
        for (float* w : weights) cudaFree(w);
        for (void* p : batch_x) cudaFree(p);
        for (void* p : batch_y) cudaFree(p);
        for (float* p : out) cudaFree(p);
        for (void* p : stage) cudaFreeHost(p);
        for (cudaEvent_t e : staged) cudaEventDestroy(e);
        for (void* p : fetch) cudaFreeHost(p);
        for (cudaEvent_t e : fetched) cudaEventDestroy(e);
        cudaFree(grads); cudaFree(opt_state); cudaFree(hparams); cudaFree(stats); cudaFree(state);
        cudaFree(order); cudaFree(arena);
        if (stream) cudaStreamDestroy(stream);
        // the model library stays loaded, as on the CPU
    }

    void* sym(const char* name) {
        void* p = dlsym(handle, name);
        if (!p) throw std::runtime_error(std::string("model library lacks ") + name);
        return p;
    }

    // Every graph, or those reading data slot `slot` (its buffers are about to change).
    void drop_graphs(int slot = -1) {
        for (auto it = graphs.begin(); it != graphs.end();) {
            if (slot >= 0 && std::get<1>(it->first) != slot) {
                ++it;
                continue;
            }
#ifndef KCC_CUDA_EMULATE
            cudaGraphExecDestroy(it->second);
#endif
            it = graphs.erase(it);
        }
    }

    void reset_optimizer() {
        std::vector<float> host((size_t)(info->opt_state_size > 0 ? info->opt_state_size : 0), 0.0f);
        for (int32_t w = 0; w < info->n_weights; ++w) {
            const KccWeightInfo& wi = info->weights[w];
            if (wi.state_offset < 0) continue;
            const int64_t stride = (wi.size + 15) / 16 * 16;
            for (int32_t s = 0; s < info->n_opt_slots; ++s)
                std::fill_n(host.data() + wi.state_offset + s * stride, wi.size, info->opt_slot_init[s]);
        }
        if (!host.empty())
            check(cudaMemcpy(opt_state, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), "upload optimizer state");
        step = 0;
    }

    // Arena, batch staging and predict outputs for `rows` rows. Graphs captured for a
    // smaller arena point at freed memory, so they go too.
    void ensure_capacity(int64_t rows) {
        if (rows <= capacity) return;
        check(cudaStreamSynchronize(stream), "synchronize");
        drop_graphs();
        cudaFree(arena);
        for (void* p : batch_x) cudaFree(p);
        for (void* p : batch_y) cudaFree(p);
        for (float* p : out) cudaFree(p);
        batch_x.clear(); batch_y.clear(); out.clear();
        arena = device_alloc<float>((size_t)(info->arena_per_sample > 16 ? info->arena_per_sample : 16) * rows +
                                    (size_t)info->workspace_size);
        for (int64_t w : in_words) batch_x.push_back(device_alloc<uint32_t>((size_t)(w * rows)));
        for (int64_t w : tg_words) batch_y.push_back(device_alloc<uint32_t>((size_t)(w * rows)));
        for (int32_t i = 0; i < info->n_outputs; ++i) out.push_back(device_alloc<float>((size_t)(info->outputs[i].size * rows)));
        capacity = rows;
    }

    int64_t row_words(bool targets) const {
        int64_t w = 0;
        for (int64_t v : in_words) w += v;
        if (targets)
            for (int64_t v : tg_words) w += v;
        return w;
    }

    // Whether `bytes` of data stay on the device: within the budget set by the caller
    // (KCC_CUDA_DATA_BYTES), else within 3/4 of the device memory free once this slot's
    // own buffers are counted as free (the rest is for the arena and the other slots).
    bool fits(const DataSlot& d, size_t bytes) const {
        if (data_budget >= 0) return bytes <= (size_t)data_budget;
        size_t free_bytes = 0, total = 0;
        check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo");
        free_bytes += (size_t)(d.capacity * row_words(d.has_targets) * 4);
        return bytes <= free_bytes / 4 * 3;
    }

    void set_data(int slot, const void* const* x, const void* const* y, int64_t rows) {
        ++calls;
        DataSlot& d = data[slot];
        check(cudaStreamSynchronize(stream), "synchronize");
        const bool was_streamed = d.streamed;
        d.streamed = !fits(d, (size_t)(rows * row_words(y != nullptr) * 4));
        if (d.streamed != was_streamed) drop_graphs(slot);
        if (d.streamed) {
            d.release();   // make room for the batches
            d.hx.assign(x, x + in_words.size());
            d.hy.clear();
            if (y) d.hy.assign(y, y + tg_words.size());
            d.has_targets = y != nullptr;
            d.rows = rows;
            return;
        }
        d.hx.clear();
        d.hy.clear();
        if (rows > d.capacity || (y && !d.has_targets)) {
            drop_graphs(slot);   // its graphs read the slot's buffers
            const int64_t cap = rows > d.capacity ? rows : d.capacity;
            d.release();
            for (int64_t w : in_words) d.x.push_back(device_alloc<uint32_t>((size_t)(w * cap)));
            if (y)
                for (int64_t w : tg_words) d.y.push_back(device_alloc<uint32_t>((size_t)(w * cap)));
            d.capacity = cap;
            d.has_targets = y != nullptr;
        }
        for (size_t i = 0; i < in_words.size(); ++i)
            check(cudaMemcpy(d.x[i], x[i], (size_t)(in_words[i] * rows) * 4, cudaMemcpyHostToDevice),
                  "upload inputs");
        if (y)
            for (size_t i = 0; i < tg_words.size(); ++i)
                check(cudaMemcpy(d.y[i], y[i], (size_t)(tg_words[i] * rows) * 4, cudaMemcpyHostToDevice),
                      "upload targets");
        d.rows = rows;
    }

    // A pair of pinned host buffers of `row_bytes` per row for `capacity` rows (`rows`: what
    // they hold now), reallocated only to grow, once the stream no longer reads them.
    void ensure_pinned(void* (&bufs)[2], int64_t& rows, size_t row_bytes, const char* what) {
        if (rows >= capacity) return;
        check(cudaStreamSynchronize(stream), "synchronize");
        for (void*& p : bufs) {
            cudaFreeHost(p);
            p = nullptr;
            check(cudaMallocHost(&p, row_bytes * (size_t)capacity), what);
        }
        rows = capacity;
    }

    // Streamed data, batch `k`'s `rows` rows into batch_x (and batch_y when `targets`):
    // rows order[begin + r] (or begin + r without an order) are copied on the host into
    // pinned buffer k % 2, which the device copies in on the stream, after the step that
    // reads batch_x now. The host fills one buffer while the device works from the other.
    void stage_batch(const DataSlot& d, int64_t k, const int64_t* order_host, int64_t begin, int64_t rows,
                     bool targets) {
        const size_t row_bytes = (size_t)row_words(true) * 4;   // any slot's rows fit
        ensure_pinned(stage, stage_rows, row_bytes, "cudaMallocHost (staging)");
        const int b = (int)(k & 1);
        check(cudaEventSynchronize(staged[b]), "waiting for a staging buffer");
        char* at = static_cast<char*>(stage[b]);
        const size_t n_in = in_words.size(), n_all = n_in + (targets ? tg_words.size() : 0);
        for (size_t i = 0; i < n_all; ++i) {
            const bool tg = i >= n_in;
            const size_t bytes = (size_t)(tg ? tg_words[i - n_in] : in_words[i]) * 4;
            const char* src = static_cast<const char*>(d.host((int)(tg ? i - n_in : i), tg));
            if (order_host) {
                for (int64_t r = 0; r < rows; ++r)
                    std::memcpy(at + (size_t)r * bytes, src + (size_t)order_host[begin + r] * bytes, bytes);
            } else {
                std::memcpy(at, src + (size_t)begin * bytes, (size_t)rows * bytes);
            }
            void* dst = tg ? batch_y[i - n_in] : batch_x[i];
            check(cudaMemcpyAsync(dst, at, (size_t)rows * bytes, cudaMemcpyHostToDevice, stream), "stream a batch in");
            at += (size_t)rows * bytes;
        }
        check(cudaEventRecord(staged[b], stream), "cudaEventRecord");
    }

    KccRun make_run() {
        KccRun run{};
        run.weights = weights.data();
        run.grads = grads;
        run.opt_state = opt_state;
        run.arena = arena;
        run.capacity = capacity;
        run.stats = stats;
        run.hparams = hparams;
        run.stream = stream;
        run.state = state;
        return run;
    }

    void upload_order(const std::vector<int64_t>& host) {
        if ((int64_t)host.size() > order_rows) {
            check(cudaStreamSynchronize(stream), "synchronize");
            drop_graphs();
            cudaFree(order);
            order = device_alloc<int64_t>(host.size());
            order_rows = (int64_t)host.size();
        }
        check(cudaMemcpyAsync(order, host.data(), host.size() * sizeof(int64_t), cudaMemcpyHostToDevice, stream),
              "upload order");
        check(cudaStreamSynchronize(stream), "synchronize");   // `host` goes out of scope
    }

    // A step's batch into batch_x (and batch_y with `targets`): from resident slot `slot`,
    // the rows at the device cursor (through `ord` when given); streamed, it is there.
    void gather_batch(int slot, const int64_t* ord, int64_t rows, bool targets, bool streamed) {
        const DataSlot& d = data[slot];
        if (streamed) return;
        for (size_t i = 0; i < batch_x.size(); ++i)
            gather_rows(stream, (uint32_t*)batch_x[i], (const uint32_t*)d.x[i], ord, state, rows, in_words[i]);
        for (size_t i = 0; targets && i < batch_y.size(); ++i)
            gather_rows(stream, (uint32_t*)batch_y[i], (const uint32_t*)d.y[i], ord, state, rows, tg_words[i]);
    }

    // A run over batch_x / batch_y (and the predict outputs) for `rows` rows.
    KccRun batch_run(int64_t rows, std::vector<const void*>& in, std::vector<const void*>& tg,
                     std::vector<float*>& o) {
        in.assign(batch_x.begin(), batch_x.end());
        tg.assign(batch_y.begin(), batch_y.end());
        o.assign(out.begin(), out.end());
        KccRun run = make_run();
        run.inputs = in.data();
        run.targets = tg.data();
        run.outputs = o.data();
        run.batch_total = rows;
        return run;
    }

    // One training step of `rows` rows: gathered from resident slot 0 by the order at the
    // cursor, or (streamed) already staged into batch_x / batch_y.
    void enqueue_step(int64_t rows, bool streamed) {
        gather_batch(0, order, rows, true, streamed);
        std::vector<const void*> in, tg;
        std::vector<float*> o;
        KccRun run = batch_run(rows, in, tg, o);
        forward_backward(&run, rows);
        apply_gradients(&run, 0, 1);
        advance(stream, state, rows, 1);
    }

    // One evaluation (kTest) or prediction step of `rows` rows of slot `slot`, in order.
    void enqueue_inference(Kind kind, int slot, int64_t rows, bool streamed) {
        gather_batch(slot, nullptr, rows, kind == kTest, streamed);
        std::vector<const void*> in, tg;
        std::vector<float*> o;
        KccRun run = batch_run(rows, in, tg, o);
        if (kind == kTest)
            test_step(&run, rows);
        else
            predict(&run, rows);
        advance(stream, state, rows, 0);
    }

    // `enqueue`'s kernels, replayed from their graph (captured on first use of `key`): a
    // step is one launch however many kernels it has.
    template <class F>
    void replay(const GraphKey& key, const char* what, F enqueue) {
#ifdef KCC_CUDA_EMULATE
        (void)key;
        (void)what;
        enqueue();
#else
        auto it = graphs.find(key);
        if (it == graphs.end()) {
            cudaGraph_t graph = nullptr;
            check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin graph capture");
            enqueue();
            const cudaError_t launch = cudaGetLastError();
            const cudaError_t end = cudaStreamEndCapture(stream, &graph);
            check(launch, what);
            check(end, "capturing a step's graph");
            cudaGraphExec_t exec = nullptr;
            const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
            cudaGraphDestroy(graph);
            check(inst, "instantiating a step's graph");
            it = graphs.emplace(key, exec).first;
        }
        check(cudaGraphLaunch(it->second, stream), what);
#endif
    }

    void launch_step(int64_t rows, bool streamed) {
        replay(GraphKey(kTrain, 0, rows, streamed), "launching the training step",
               [&] { enqueue_step(rows, streamed); });
    }

    void read_stats(std::vector<double>& sums) {
        check(cudaMemcpyAsync(sums.data(), stats, sums.size() * sizeof(double), cudaMemcpyDeviceToHost, stream),
              "read stats");
        check(cudaStreamSynchronize(stream), "training step");
    }

    void zero_stats() {
        if (info->n_stats > 0)
            check(cudaMemsetAsync(stats, 0, sizeof(double) * info->n_stats, stream), "zero stats");
    }

    int64_t train_epoch(int64_t n, int64_t batch_size, int shuffle, uint64_t seed, Hook hook, void* ctx,
                        int every_batch, double interval_s, double* sums_out, int* stopped) {
        if (!info->trainable) throw std::logic_error("model was not compiled for training");
        const DataSlot& d = data[0];
        if (n > d.rows || !d.has_targets) throw std::logic_error("training data was not uploaded");
        ++calls;
        ensure_capacity(batch_size < n ? batch_size : n);
        std::vector<int64_t> ord((size_t)n);
        kcc::epoch_order(ord.data(), n, shuffle, seed);   // the CPU session's order
        if (!d.streamed) upload_order(ord);               // streamed: the host gathers by it
        set_state(stream, state, step + 1, seed, 0);
        zero_stats();
        std::vector<double> sums((size_t)info->n_stats, 0.0);
        auto last = std::chrono::steady_clock::now();
        int64_t seen = 0, batch = 0;
        *stopped = 0;
        // The hook runs the callbacks, which may predict or evaluate on this session between
        // two steps. Those calls move the cursor and zero the stats, so what the epoch keeps
        // on the device is put back after them.
        auto call_hook = [&](int begin_flag) {
            read_stats(sums);
            const int64_t before = calls;
            const bool stop = hook(ctx, begin_flag, batch, seen, sums.data()) != 0;
            if (calls != before) {
                if (!d.streamed) upload_order(ord);
                set_state(stream, state, step + 1, seed, seen);
                if (info->n_stats > 0)
                    check(cudaMemcpy(stats, sums.data(), sizeof(double) * sums.size(), cudaMemcpyHostToDevice),
                          "restore the epoch's stats");
            }
            return stop;
        };
        for (int64_t begin = 0; begin < n; begin += batch_size, ++batch) {
            const int64_t rows = batch_size < n - begin ? batch_size : n - begin;
            if (hook && every_batch && call_hook(1)) { *stopped = 1; break; }
            if (d.streamed) stage_batch(d, batch, ord.data(), begin, rows, true);
            launch_step(rows, d.streamed);
            ++step;
            seen += rows;
            if (hook) {
                const auto now = std::chrono::steady_clock::now();
                const bool final_batch = begin + rows >= n;
                if (every_batch || final_batch || std::chrono::duration<double>(now - last).count() >= interval_s) {
                    last = now;
                    if (call_hook(0)) { *stopped = 1; break; }
                }
            }
        }
        read_stats(sums);
        std::copy(sums.begin(), sums.end(), sums_out);
        return seen;
    }

    // Forward + backward of all n rows of slot 0 in order, no update: gradients for tests.
    void gradients(int64_t n, uint64_t seed, double* sums_out, float* grads_out) {
        ++calls;
        if (!info->trainable) throw std::logic_error("model was not compiled for training");
        const DataSlot& d = data[0];
        if (n > d.rows || !d.has_targets) throw std::logic_error("training data was not uploaded");
        ensure_capacity(n);
        set_state(stream, state, step + 1, seed, 0);
        zero_stats();
        // the rows in order, through the batch buffers as a step reads them
        if (d.streamed) stage_batch(d, 0, nullptr, 0, n, true);
        gather_batch(0, nullptr, n, true, d.streamed);
        std::vector<const void*> in, tg;
        std::vector<float*> o;
        KccRun run = batch_run(n, in, tg, o);
        forward_backward(&run, n);
        check(cudaGetLastError(), "launching the backward pass");
        std::vector<double> sums((size_t)info->n_stats);
        read_stats(sums);
        std::copy(sums.begin(), sums.end(), sums_out);
        if (info->grads_size > 0)
            check(cudaMemcpy(grads_out, grads, sizeof(float) * info->grads_size, cudaMemcpyDeviceToHost), "read gradients");
    }

    int64_t test(int slot, int64_t n, int64_t batch_size, double* sums_out) {
        ++calls;
        const DataSlot& d = data[slot];
        if (n > d.rows || !d.has_targets) throw std::logic_error("evaluation data was not uploaded");
        ensure_capacity(batch_size < n ? batch_size : n);
        zero_stats();
        set_cursor(stream, state, 0);
        int64_t k = 0;
        for (int64_t begin = 0; begin < n; begin += batch_size, ++k) {
            const int64_t rows = batch_size < n - begin ? batch_size : n - begin;
            if (d.streamed) stage_batch(d, k, nullptr, begin, rows, true);
            replay(GraphKey(kTest, slot, rows, d.streamed), "launching the evaluation step",
                   [&] { enqueue_inference(kTest, slot, rows, d.streamed); });
        }
        std::vector<double> sums((size_t)info->n_stats);
        read_stats(sums);
        std::copy(sums.begin(), sums.end(), sums_out);
        return n;
    }

    void run_predict(int slot, int64_t n, int64_t batch_size, float* const* host_out) {
        ++calls;
        const DataSlot& d = data[slot];
        if (n > d.rows) throw std::logic_error("prediction data was not uploaded");
        ensure_capacity(batch_size < n ? batch_size : n);
        int64_t out_words = 0;
        for (int32_t i = 0; i < info->n_outputs; ++i) out_words += info->outputs[i].size;
        ensure_pinned(fetch, fetch_rows, (size_t)out_words * 4, "cudaMallocHost (predictions)");
        // batch k's outputs from pinned buffer k % 2 into the caller's arrays, once copied
        auto drain = [&](int64_t k, int64_t begin, int64_t rows) {
            check(cudaEventSynchronize(fetched[k & 1]), "read predictions");
            const float* at = static_cast<const float*>(fetch[k & 1]);
            for (int32_t i = 0; i < info->n_outputs; ++i) {
                const int64_t words = rows * info->outputs[i].size;
                std::memcpy(host_out[i] + begin * info->outputs[i].size, at, (size_t)words * 4);
                at += words;
            }
        };
        set_cursor(stream, state, 0);
        int64_t k = 0, prev_begin = 0, prev_rows = 0;
        for (int64_t begin = 0; begin < n; begin += batch_size, ++k) {
            const int64_t rows = batch_size < n - begin ? batch_size : n - begin;
            if (d.streamed) stage_batch(d, k, nullptr, begin, rows, false);
            replay(GraphKey(kPredict, slot, rows, d.streamed), "launching predict",
                   [&] { enqueue_inference(kPredict, slot, rows, d.streamed); });
            // (outside the graph: the buffer alternates; the next batch's replay, later on
            // the stream, overwrites `out` only after this copy)
            float* at = static_cast<float*>(fetch[k & 1]);
            for (int32_t i = 0; i < info->n_outputs; ++i) {
                const int64_t words = rows * info->outputs[i].size;
                check(cudaMemcpyAsync(at, out[i], sizeof(float) * words, cudaMemcpyDeviceToHost, stream),
                      "read predictions");
                at += words;
            }
            check(cudaEventRecord(fetched[k & 1], stream), "cudaEventRecord");
            if (k > 0) drain(k - 1, prev_begin, prev_rows);
            prev_begin = begin;
            prev_rows = rows;
        }
        if (k > 0) drain(k - 1, prev_begin, prev_rows);
        check(cudaStreamSynchronize(stream), "predict");
    }
};

template <class F>
int guarded(F f) {
    try {
        f();
        return 0;
    } catch (const std::exception& e) {
        g_error = e.what();
    } catch (...) {
        g_error = "unknown error in the kcc CUDA driver";
    }
    return -1;
}

Session* S(void* s) { return static_cast<Session*>(s); }

}  // namespace

extern "C" {

const char* kcc_cuda_last_error(void) { return g_error.c_str(); }

void* kcc_cuda_open(const char* library_path) {
    Session* s = nullptr;
    if (guarded([&] { s = new Session(library_path); })) return nullptr;
    return s;
}

void kcc_cuda_close(void* s) { delete S(s); }

const KccModelInfo* kcc_cuda_info(void* s) { return S(s)->info; }

int kcc_cuda_upload_weights(void* s, float* const* host) {
    return guarded([&] {
        Session& x = *S(s);
        check(cudaStreamSynchronize(x.stream), "synchronize");
        for (int32_t i = 0; i < x.info->n_weights; ++i)
            check(cudaMemcpy(x.weights[i], host[i], sizeof(float) * x.info->weights[i].size, cudaMemcpyHostToDevice),
                  "upload weights");
    });
}

int kcc_cuda_download_weights(void* s, float* const* host) {
    return guarded([&] {
        Session& x = *S(s);
        check(cudaStreamSynchronize(x.stream), "synchronize");
        for (int32_t i = 0; i < x.info->n_weights; ++i)
            check(cudaMemcpy(host[i], x.weights[i], sizeof(float) * x.info->weights[i].size, cudaMemcpyDeviceToHost),
                  "download weights");
    });
}

int kcc_cuda_reset_optimizer(void* s) { return guarded([&] { S(s)->reset_optimizer(); }); }

int kcc_cuda_get_optimizer_state(void* s, float* out) {
    return guarded([&] {
        Session& x = *S(s);
        if (x.info->opt_state_size > 0)
            check(cudaMemcpy(out, x.opt_state, sizeof(float) * x.info->opt_state_size, cudaMemcpyDeviceToHost),
                  "read optimizer state");
    });
}

int kcc_cuda_set_optimizer_state(void* s, const float* in) {
    return guarded([&] {
        Session& x = *S(s);
        check(cudaStreamSynchronize(x.stream), "synchronize");
        if (x.info->opt_state_size > 0)
            check(cudaMemcpy(x.opt_state, in, sizeof(float) * x.info->opt_state_size, cudaMemcpyHostToDevice),
                  "write optimizer state");
    });
}

int kcc_cuda_set_hparams(void* s, const float* h, int32_t count) {
    return guarded([&] {
        Session& x = *S(s);
        if (count != x.info->n_hparams) throw std::invalid_argument("wrong number of optimizer hyperparameters");
        check(cudaStreamSynchronize(x.stream), "synchronize");
        if (count > 0) check(cudaMemcpy(x.hparams, h, sizeof(float) * count, cudaMemcpyHostToDevice), "upload hyperparameters");
    });
}

int64_t kcc_cuda_get_step(void* s) { return S(s)->step; }
void kcc_cuda_set_step(void* s, int64_t step) { S(s)->step = step; }

// Bytes of a call's data kept on the device; more is streamed in batch by batch. -1: 3/4
// of the device memory free at the time.
void kcc_cuda_set_data_budget(void* s, int64_t bytes) { S(s)->data_budget = bytes < 0 ? -1 : bytes; }

// Whether a slot's current data streams in per batch (1) or sits on the device (0).
int kcc_cuda_data_streamed(void* s, int32_t slot) { return slot >= 0 && slot <= 2 && S(s)->data[slot].streamed; }

int kcc_cuda_set_data(void* s, int32_t slot, const void* const* x, const void* const* y, int64_t rows) {
    return guarded([&] {
        if (slot < 0 || slot > 2) throw std::invalid_argument("bad data slot");
        S(s)->set_data(slot, x, y, rows);
    });
}

int kcc_cuda_train_epoch(void* s, int64_t n, int64_t batch_size, int32_t shuffle, uint64_t seed, Hook hook,
                         void* ctx, int32_t every_batch, double interval_s, double* sums, int64_t* seen,
                         int32_t* stopped) {
    return guarded([&] {
        int st = 0;
        *seen = S(s)->train_epoch(n, batch_size, shuffle, seed, hook, ctx, every_batch, interval_s, sums, &st);
        *stopped = st;
    });
}

int kcc_cuda_test(void* s, int32_t slot, int64_t n, int64_t batch_size, double* sums) {
    return guarded([&] { S(s)->test(slot, n, batch_size, sums); });
}

int kcc_cuda_predict(void* s, int32_t slot, int64_t n, int64_t batch_size, float* const* out) {
    return guarded([&] { S(s)->run_predict(slot, n, batch_size, out); });
}

int kcc_cuda_gradients(void* s, int64_t n, uint64_t seed, double* sums, float* grads) {
    return guarded([&] { S(s)->gradients(n, seed, sums, grads); });
}

}  // extern "C"
