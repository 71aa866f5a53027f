// kcc CUDA driver: runs one generated CUDA unit (kcc/model_abi.h with device pointers)
// through whole epochs on the GPU. The CUDA twin of csrc/runtime/session.cpp.
//
// Built once per machine into the kcc cache by kcc/runtime/cuda.py (nvcc), loaded with
// ctypes; it dlopens the model's unit. What lives on the device: the weights (a copy of
// the layers' host buffers, synced at the boundaries kcc/runtime/cuda.py documents),
// gradients, optimizer state, hyperparameters, the activation arena, the step state, and
// the data of the current fit/evaluate/predict call, copied in once per call.
//
// A training step is captured once per batch size as a CUDA graph: gather the batch rows
// (by the epoch's order, from the cursor in device memory), forward + backward, the
// optimizer update, and advancing the step and cursor. An epoch is then one graph launch
// per batch and no host work between them; the host synchronizes only to report progress.
//
// Every entry point returns 0 or -1; kcc_cuda_last_error() says what went wrong.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

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

// dst row r = src row order[cursor + r]; rows are `words` 4-byte words (float or int32).
__global__ void gather_rows(uint32_t* dst, const uint32_t* src, const int64_t* order,
                            const KccStepState* state, int64_t rows, int64_t words) {
    const int64_t total = rows * words, stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t cursor = state->cursor;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const int64_t r = i / words, k = i % words;
        dst[i] = src[order[cursor + r] * words + k];
    }
}

__global__ void advance(KccStepState* state, int64_t rows) {
    state->step += 1;
    state->cursor += rows;
}

__global__ void set_state(KccStepState* state, int64_t step, uint64_t seed, int64_t cursor) {
    state->step = step;
    state->seed = seed;
    state->row_offset = 0;
    state->cursor = cursor;
}

template <class T>
T* device_alloc(size_t count) {
    void* p = nullptr;
    if (count == 0) count = 1;
    check(cudaMalloc(&p, count * sizeof(T)), "cudaMalloc");
    return static_cast<T*>(p);
}

// The data of one call (fit, validation/evaluate, predict), resident on the device.
// Buffers are kept between calls and reallocated only to grow: predict_on_batch in a loop
// then costs a copy, not a cudaMalloc/cudaFree pair, and the captured training graphs
// (which read slot 0's buffers) stay valid from one fit call to the next.
struct DataSlot {
    std::vector<void*> x, y;
    int64_t rows = 0;       // rows of the current data
    int64_t capacity = 0;   // rows the buffers hold
    bool has_targets = false;
    void release() {
        for (void* p : x) cudaFree(p);
        for (void* p : y) cudaFree(p);
        x.clear();
        y.clear();
        rows = capacity = 0;
        has_targets = false;
    }
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
    std::map<int64_t, cudaGraphExec_t> graphs;   // training step per batch size
    int64_t step = 0;
    std::vector<int64_t> in_words, tg_words;

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
        drop_graphs();
        for (auto& d : data) d.release();
        for (float* w : weights) cudaFree(w);
        for (void* p : batch_x) cudaFree(p);
        for (void* p : batch_y) cudaFree(p);
        for (float* p : out) cudaFree(p);
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

    void drop_graphs() {
        for (auto& kv : graphs) cudaGraphExecDestroy(kv.second);
        graphs.clear();
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

    void set_data(int slot, const void* const* x, const void* const* y, int64_t rows) {
        DataSlot& d = data[slot];
        check(cudaStreamSynchronize(stream), "synchronize");
        if (rows > d.capacity || (y && !d.has_targets)) {
            if (slot == 0) drop_graphs();   // the training graphs read slot 0's buffers
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

    // One training step of `rows` rows, gathered from slot 0 by the order at the cursor.
    void enqueue_step(int64_t rows) {
        const DataSlot& d = data[0];
        for (size_t i = 0; i < batch_x.size(); ++i)
            gather_rows<<<blocks(rows * in_words[i]), 256, 0, stream>>>(
                (uint32_t*)batch_x[i], (const uint32_t*)d.x[i], order, state, rows, in_words[i]);
        for (size_t i = 0; i < batch_y.size(); ++i)
            gather_rows<<<blocks(rows * tg_words[i]), 256, 0, stream>>>(
                (uint32_t*)batch_y[i], (const uint32_t*)d.y[i], order, state, rows, tg_words[i]);
        std::vector<const void*> in(batch_x.begin(), batch_x.end()), tg(batch_y.begin(), batch_y.end());
        KccRun run = make_run();
        run.inputs = in.data();
        run.targets = tg.data();
        run.batch_total = rows;
        forward_backward(&run, rows);
        apply_gradients(&run, 0, 1);
        advance<<<1, 1, 0, stream>>>(state, rows);
    }

    static int blocks(int64_t count) {
        const int64_t b = (count + 255) / 256;
        return (int)(b < 4096 ? (b > 0 ? b : 1) : 4096);
    }

    cudaGraphExec_t graph_for(int64_t rows) {
        auto it = graphs.find(rows);
        if (it != graphs.end()) return it->second;
        cudaGraph_t graph = nullptr;
        check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin graph capture");
        enqueue_step(rows);
        const cudaError_t launch = cudaGetLastError();
        const cudaError_t end = cudaStreamEndCapture(stream, &graph);
        check(launch, "launching the training step");
        check(end, "capturing the training step");
        cudaGraphExec_t exec = nullptr;
        const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        check(inst, "instantiating the training graph");
        graphs[rows] = exec;
        return exec;
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
        if (n > data[0].rows) throw std::logic_error("training data was not uploaded");
        ensure_capacity(batch_size < n ? batch_size : n);
        std::vector<int64_t> ord((size_t)n);
        kcc::epoch_order(ord.data(), n, shuffle, seed);   // the CPU session's order
        upload_order(ord);
        set_state<<<1, 1, 0, stream>>>(state, step + 1, seed, 0);
        zero_stats();
        std::vector<double> sums((size_t)info->n_stats, 0.0);
        auto last = std::chrono::steady_clock::now();
        int64_t seen = 0, batch = 0;
        *stopped = 0;
        for (int64_t begin = 0; begin < n; begin += batch_size, ++batch) {
            const int64_t rows = batch_size < n - begin ? batch_size : n - begin;
            if (hook && every_batch) {
                read_stats(sums);
                if (hook(ctx, 1, batch, seen, sums.data())) { *stopped = 1; break; }
            }
            check(cudaGraphLaunch(graph_for(rows), stream), "launching the training graph");
            ++step;
            seen += rows;
            if (hook) {
                const auto now = std::chrono::steady_clock::now();
                const bool final_batch = begin + rows >= n;
                if (every_batch || final_batch || std::chrono::duration<double>(now - last).count() >= interval_s) {
                    read_stats(sums);
                    last = std::chrono::steady_clock::now();
                    if (hook(ctx, 0, batch, seen, sums.data())) { *stopped = 1; break; }
                }
            }
        }
        read_stats(sums);
        std::copy(sums.begin(), sums.end(), sums_out);
        return seen;
    }

    // Forward + backward of all n rows of slot 0 in order, no update: gradients for tests.
    void gradients(int64_t n, uint64_t seed, double* sums_out, float* grads_out) {
        if (!info->trainable) throw std::logic_error("model was not compiled for training");
        ensure_capacity(n);
        std::vector<int64_t> ord((size_t)n);
        kcc::epoch_order(ord.data(), n, false, 0);
        upload_order(ord);
        set_state<<<1, 1, 0, stream>>>(state, step + 1, seed, 0);
        zero_stats();
        const DataSlot& d = data[0];
        std::vector<const void*> in(d.x.begin(), d.x.end()), tg(d.y.begin(), d.y.end());
        KccRun run = make_run();
        run.inputs = in.data();
        run.targets = tg.data();
        run.batch_total = n;
        forward_backward(&run, n);
        check(cudaGetLastError(), "launching the backward pass");
        std::vector<double> sums((size_t)info->n_stats);
        read_stats(sums);
        std::copy(sums.begin(), sums.end(), sums_out);
        if (info->grads_size > 0)
            check(cudaMemcpy(grads_out, grads, sizeof(float) * info->grads_size, cudaMemcpyDeviceToHost), "read gradients");
    }

    int64_t test(int slot, int64_t n, int64_t batch_size, double* sums_out) {
        const DataSlot& d = data[slot];
        if (n > d.rows) throw std::logic_error("evaluation data was not uploaded");
        ensure_capacity(batch_size < n ? batch_size : n);
        zero_stats();
        for (int64_t begin = 0; begin < n; begin += batch_size) {
            const int64_t rows = batch_size < n - begin ? batch_size : n - begin;
            std::vector<const void*> in, tg;
            for (size_t i = 0; i < d.x.size(); ++i) in.push_back((const uint32_t*)d.x[i] + begin * in_words[i]);
            for (size_t i = 0; i < d.y.size(); ++i) tg.push_back((const uint32_t*)d.y[i] + begin * tg_words[i]);
            KccRun run = make_run();
            run.inputs = in.data();
            run.targets = tg.data();
            run.batch_total = rows;
            test_step(&run, rows);
            check(cudaGetLastError(), "launching the evaluation step");
        }
        std::vector<double> sums((size_t)info->n_stats);
        read_stats(sums);
        std::copy(sums.begin(), sums.end(), sums_out);
        return n;
    }

    void run_predict(int slot, int64_t n, int64_t batch_size, float* const* host_out) {
        const DataSlot& d = data[slot];
        if (n > d.rows) throw std::logic_error("prediction data was not uploaded");
        ensure_capacity(batch_size < n ? batch_size : n);
        for (int64_t begin = 0; begin < n; begin += batch_size) {
            const int64_t rows = batch_size < n - begin ? batch_size : n - begin;
            std::vector<const void*> in;
            for (size_t i = 0; i < d.x.size(); ++i) in.push_back((const uint32_t*)d.x[i] + begin * in_words[i]);
            std::vector<float*> o(out.begin(), out.end());
            KccRun run = make_run();
            run.inputs = in.data();
            run.outputs = o.data();
            run.batch_total = rows;
            predict(&run, rows);
            check(cudaGetLastError(), "launching predict");
            for (int32_t i = 0; i < info->n_outputs; ++i)
                check(cudaMemcpyAsync(host_out[i] + begin * info->outputs[i].size, out[i],
                                      sizeof(float) * rows * info->outputs[i].size, cudaMemcpyDeviceToHost, stream),
                      "read predictions");
        }
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
