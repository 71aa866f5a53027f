// kcc/export/runtime.h: what an exported model's C API does, written once for every model.
//
// The generated unit (kcc_model_info, kcc_predict) knows the model; this header knows
// the rest: reading and checking a weights file, owning the weights, the arena and the
// worker threads the unit's big ops run on (KccRun::parallel), and checking every
// argument of a predict call before the unit touches a byte. The C API
// of an export (src/<name>.cpp, from kcc/templates/export/api.cpp.j2) is a thin layer of
// <name>_* functions over these, which turns exceptions and statuses into its enum.
//
// Nothing here throws except std::bad_alloc, which the C API turns into a status.
#ifndef KCC_EXPORT_RUNTIME_H
#define KCC_EXPORT_RUNTIME_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "kcc/export/pool.h"
#include "kcc/export/safetensors.h"
#include "kcc/model_abi.h"

namespace kcc {
namespace exported {

// The C API's status codes, in the same order as the <NAME>_* enum of every export.
enum Status {
    kOk = 0,
    kNullPointer = 1,      // a required pointer argument is NULL
    kInvalidArgument = 2,  // an index out of range, a negative n, a misaligned buffer
    kBufferSize = 3,       // a buffer's byte count is not what the model needs
    kIo = 4,               // the weights file cannot be opened or read
    kFormat = 5,           // not a safetensors file, or truncated, or corrupt
    kModelMismatch = 6,    // a weights file of another model (names, shapes, fingerprint)
    kOutOfMemory = 7,
    kInputRange = 8,       // an Embedding id outside [0, input_dim)
};

// What the C API knows about its model at compile time.
struct Spec {
    const KccModelInfo* info;
    void (*predict)(const KccRun*, int64_t);
    const char* fingerprint;   // of the generated source; the weights file must carry it
    const int64_t* id_bounds;  // per input: ids must lie in [0, bound); 0 = not ids
};

constexpr const char* kWeightsFormat = "kcc-export-weights";
constexpr const char* kWeightsVersion = "1";   // kcc/export/weights.py VERSION
// A batch runs in steps of as many rows as fit 64 MB of arena (at least 1, at most 4096):
// a small model takes a big batch in few steps, a big one (VQA: ~26 MB a row) never
// allocates gigabytes.
constexpr int64_t kArenaStepBytes = 64 << 20;
inline int64_t rows_per_step(const KccModelInfo& info) {
    const int64_t per_row = std::max<int64_t>(info.arena_per_sample, 16) * (int64_t)sizeof(float);
    return std::max<int64_t>(1, std::min<int64_t>(4096, kArenaStepBytes / per_row));
}

struct Model {
    const Spec* spec = nullptr;
    float* weight_block = nullptr;       // every weight, each 64-byte aligned
    std::vector<float*> weights;         // one pointer per KccWeightInfo
    float* arena = nullptr;
    int64_t capacity = 0;                // rows the arena holds
    int threads = 1;                     // predict's threads, the caller's included
    float* worker_block = nullptr;       // the workspaces of workers 1 .. threads - 1
    int worker_block_count = 0;          // workspaces worker_block holds
    std::vector<float*> worker_ws;       // KccRun::worker_ws: [0] is the arena's workspace
    std::unique_ptr<Pool> pool;          // workers 1 .. threads - 1, when threads > 1

    Model() = default;
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;
    ~Model() {
        pool.reset();   // joins the workers before their workspaces go
        free(worker_block);
        free(weight_block);
        free(arena);
    }
};

inline float* aligned_floats(size_t count) {
    const size_t bytes = (std::max<size_t>(count, 16) * sizeof(float) + 63) / 64 * 64;
    void* p = aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<float*>(p);
}

inline std::string shape_text(int rank, const int64_t* dims) {
    std::string s = "(";
    for (int k = 0; k < rank; ++k) s += (k ? ", " : "") + std::to_string(dims[k]);
    return s + (rank == 1 ? ",)" : ")");
}

// Checks that the weights file whose header is `file` was written for this library:
// its format and version, every weight's name and shape, and the fingerprint of the
// architecture. `what` names the source in messages.
inline Status check_weights(const Spec& spec, const safetensors::File& file, const std::string& what,
                            std::string& err) {
    const KccModelInfo& info = *spec.info;
    const std::string* format = file.meta("format");
    if (!format || *format != kWeightsFormat) {
        err = what + " is a safetensors file but not the weights of a kcc export (metadata format=" +
              (format ? "'" + *format + "'" : std::string("missing")) + ", expected '" + kWeightsFormat +
              "'). Use the .safetensors file of the export folder, or kcc.export.write_weights().";
        return kFormat;
    }
    const std::string* version = file.meta("version");
    if (!version || *version != kWeightsVersion) {
        err = what + " is a kcc export weights file of version " +
              (version ? "'" + *version + "'" : std::string("(missing)")) + "; this library reads version '" +
              kWeightsVersion + "'. Write it again with this kcc's kcc.export.write_weights().";
        return kFormat;
    }
    const std::string* model = file.meta("model");
    // (two architectures may share a name, model_1 say: then say the other is another model)
    const bool same_name = model && *model == info.model_name;
    const std::string theirs = std::string(same_name ? "another " : "") + "model '" +
                               (model ? *model : std::string("?")) + "'";
    const std::string ours = std::string("model '") + info.model_name + "'";
    for (int32_t w = 0; w < info.n_weights; ++w) {
        const KccWeightInfo& wi = info.weights[w];
        const safetensors::Tensor* t = file.find(wi.name);
        if (!t) {
            err = what + " holds the weights of " + theirs + ", not of this library's " + ours +
                  ": it lacks weight '" + wi.name + "'";
            return kModelMismatch;
        }
        if (t->dtype != "F32") {
            err = what + ": weight '" + wi.name + "' has dtype " + t->dtype + ", expected F32";
            return kModelMismatch;
        }
        bool same = (int64_t)t->shape.size() == wi.rank;
        for (int32_t k = 0; same && k < wi.rank; ++k) same = t->shape[k] == wi.dims[k];
        if (!same) {
            err = what + " holds the weights of " + theirs + ", not of this library's " + ours +
                  ": weight '" + wi.name + "' has shape " + shape_text((int)t->shape.size(), t->shape.data()) +
                  ", expected " + shape_text(wi.rank, wi.dims);
            return kModelMismatch;
        }
    }
    if ((int64_t)file.tensors.size() != info.n_weights) {
        for (const safetensors::Tensor& t : file.tensors) {
            bool known = false;
            for (int32_t w = 0; w < info.n_weights && !known; ++w) known = t.name == info.weights[w].name;
            if (!known) {
                err = what + " holds the weights of " + theirs + ", not of this library's " + ours +
                      ": this model has no weight '" + t.name + "'";
                return kModelMismatch;
            }
        }
    }
    const std::string* fp = file.meta("fingerprint");
    if (!fp || *fp != spec.fingerprint) {
        err = what + " was written for " + theirs + " (fingerprint " + (fp ? *fp : std::string("missing")) +
              "), but this library is " + ours + " (fingerprint " + spec.fingerprint + "): the names and "
              "shapes agree, the architecture does not. Export the model again, or write its weights with "
              "kcc.export.write_weights().";
        return kModelMismatch;
    }
    return kOk;
}

// A model for the checked weights file `file`: one aligned block holds every weight, and
// `fill(t, dst)` writes tensor t's bytes to dst, tensor by tensor in the order the bytes
// lie in the file, so a file is read front to back. `fill` returns a status (kIo when a
// read fails); any other than kOk frees the model and is returned.
template <class Fill>
inline Status make_model(const Spec& spec, const safetensors::File& file, Model** out, Fill&& fill) {
    const KccModelInfo& info = *spec.info;
    std::unique_ptr<Model> m(new Model());
    m->spec = &spec;
    m->threads = default_threads();
    size_t total = 0;
    std::vector<std::pair<const safetensors::Tensor*, size_t>> order;   // (tensor, offset in the block)
    for (int32_t w = 0; w < info.n_weights; ++w) {
        order.emplace_back(file.find(info.weights[w].name), total);
        total += ((size_t)info.weights[w].size + 15) / 16 * 16;
    }
    m->weight_block = aligned_floats(total);
    for (const auto& tw : order) m->weights.push_back(m->weight_block + tw.second);
    std::sort(order.begin(), order.end(), [](const std::pair<const safetensors::Tensor*, size_t>& a,
                                             const std::pair<const safetensors::Tensor*, size_t>& b) {
        return a.first->offset < b.first->offset;
    });
    for (const auto& tw : order) {
        const Status s = fill(*tw.first, m->weight_block + tw.second);
        if (s != kOk) return s;
    }
    *out = m.release();
    return kOk;
}

// A model from the bytes of a weights file held in memory; `what` names them in messages.
inline Status load(const Spec& spec, const unsigned char* bytes, size_t size, const std::string& what,
                   Model** out, std::string& err) {
    safetensors::File file;
    std::string why;
    if (!safetensors::parse(bytes, size, file, why)) {
        err = what + " is not a valid weights file: " + why;
        return kFormat;
    }
    const Status s = check_weights(spec, file, what, err);
    if (s != kOk) return s;
    return make_model(spec, file, out, [](const safetensors::Tensor& t, float* dst) {
        memcpy(dst, t.data, (size_t)t.count * sizeof(float));   // unaligned source
        return kOk;
    });
}

// A model from a weights file on disk. The header is read and checked first, then each
// weight straight into its place in the weight block: the file is never held in memory
// whole, so loading takes the weights' size once (the full VQA: 630 MB, not 1.3 GB).
inline Status load_file(const Spec& spec, const char* path, Model** out, std::string& err) {
    const std::string what = std::string("weights file '") + path + "'";
    FILE* f = fopen(path, "rb");
    if (!f) {
        err = "cannot open " + what + ": " + strerror(errno);
        return kIo;
    }
    std::unique_ptr<FILE, int (*)(FILE*)> closer(f, fclose);
    const std::string unreadable = "cannot read " + what + " (an I/O error, or a directory)";
    struct stat st;
    long length = -1;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && fseek(f, 0, SEEK_END) == 0) length = ftell(f);
    if (length < 0 || fseek(f, 0, SEEK_SET) != 0) {
        err = unreadable;
        return kIo;
    }
    unsigned char head[8];
    const size_t got = fread(head, 1, std::min<size_t>(8, (size_t)length), f);
    if (got != std::min<size_t>(8, (size_t)length)) {
        err = unreadable;
        return kIo;
    }
    uint64_t len = 0;
    std::string why;
    std::vector<unsigned char> json;
    safetensors::File file;
    if (safetensors::header_length(head, (uint64_t)length, len, why)) {
        json.resize((size_t)len);
        if (fread(json.data(), 1, json.size(), f) != json.size()) {
            err = unreadable;
            return kIo;
        }
        safetensors::parse_header(json.data(), json.size(), (uint64_t)length - 8 - len, file, why);
    }
    if (!why.empty()) {
        err = what + " is not a valid weights file: " + why;
        return kFormat;
    }
    Status s = check_weights(spec, file, what, err);
    if (s != kOk) return s;
    uint64_t at = 0;   // where the file position is, counted from the end of the header
    s = make_model(spec, file, out, [&](const safetensors::Tensor& t, float* dst) {
        // the tensors tile the data, so after the first this never seeks
        if (t.offset != at && fseek(f, (long)(8 + len + t.offset), SEEK_SET) != 0) return kIo;
        const size_t bytes = (size_t)t.count * sizeof(float);
        if (fread(dst, 1, bytes, f) != bytes) return kIo;
        at = t.offset + bytes;
        return kOk;
    });
    if (s == kOk && (fgetc(f) != EOF || ferror(f) != 0)) {   // the file grew, or failed, while read
        delete *out;
        *out = nullptr;
        s = kIo;
    }
    if (s == kIo) err = unreadable;
    return s;
}

// Restores the caller's floating-point mode when the call returns.
struct FlushDenormals {
#ifdef KCC_EXPORT_FTZ
    unsigned int saved;
    FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040); }  // FTZ | DAZ, as kcc runs
    ~FlushDenormals() { _mm_setcsr(saved); }
#endif
};

inline std::string tensor_name(const char* kind, int32_t i, const KccTensorInfo& t) {
    return std::string(kind) + " " + std::to_string(i) + " ('" + t.name + "')";
}

// Checks one list of buffers (inputs or outputs) for n rows.
inline Status check_buffers(const char* kind, int32_t count, const KccTensorInfo* infos, int64_t n,
                            const void* const* ptrs, const size_t* bytes, std::string& err) {
    if (!ptrs || !bytes) {
        err = std::string("predict: the ") + kind + " pointer array or its byte-count array is NULL";
        return kNullPointer;
    }
    for (int32_t i = 0; i < count; ++i) {
        const KccTensorInfo& t = infos[i];
        const uint64_t row = (uint64_t)t.size * 4;
        if (row != 0 && (uint64_t)n > (uint64_t)SIZE_MAX / row) {
            err = "predict: n=" + std::to_string(n) + " rows of " + tensor_name(kind, i, t) + " overflow size_t";
            return kBufferSize;
        }
        const size_t need = (size_t)(row * (uint64_t)n);
        if (bytes[i] != need) {
            err = "predict: " + tensor_name(kind, i, t) + " needs " + std::to_string(need) + " bytes for n=" +
                  std::to_string(n) + " (" + std::to_string(t.size) + " x 4 bytes per sample); received " +
                  std::to_string(bytes[i]);
            return kBufferSize;
        }
        if (n > 0 && !ptrs[i]) {
            err = "predict: the buffer of " + tensor_name(kind, i, t) + " is NULL";
            return kNullPointer;
        }
        if ((uintptr_t)ptrs[i] % 4 != 0) {
            err = "predict: the buffer of " + tensor_name(kind, i, t) + " is not 4-byte aligned";
            return kInvalidArgument;
        }
    }
    return kOk;
}

// The arena for `rows` rows and, with several threads, one more fixed workspace per worker
// (info.workspace_size floats each, 64-byte aligned). Worker 0's is the arena's own: the
// unit finds its workspace at arena + arena_per_sample * capacity.
inline void reserve(Model& m, int64_t rows) {
    const KccModelInfo& info = *m.spec->info;
    if (rows > m.capacity) {
        const size_t floats = (size_t)std::max<int64_t>(info.arena_per_sample, 16) * (size_t)rows +
                              (size_t)info.workspace_size;
        float* arena = aligned_floats(floats);
        free(m.arena);
        m.arena = arena;
        m.capacity = rows;
    }
    const size_t stride = ((size_t)info.workspace_size + 15) / 16 * 16;
    if (m.worker_block_count != m.threads - 1) {
        float* block = m.threads > 1 ? aligned_floats(stride * (size_t)(m.threads - 1)) : nullptr;
        free(m.worker_block);
        m.worker_block = block;
        m.worker_block_count = m.threads - 1;
    }
    m.worker_ws.resize((size_t)m.threads);
    m.worker_ws[0] = m.arena + info.arena_per_sample * m.capacity;
    for (int w = 1; w < m.threads; ++w) m.worker_ws[(size_t)w] = m.worker_block + stride * (size_t)(w - 1);
}

// Sets the threads predict runs on: `threads` (>= 1) or, for 0, default_threads().
inline Status set_threads(Model& m, int threads, std::string& err) {
    if (threads < 0 || threads > kMaxThreads) {
        err = "set_threads: threads must be 0 (the default: " + std::string(kThreadsEnv) + ", else every CPU) "
              "or a count in [1, " + std::to_string(kMaxThreads) + "]; received threads=" + std::to_string(threads);
        return kInvalidArgument;
    }
    const int want = threads == 0 ? default_threads() : threads;
    if (want != m.threads) {
        m.pool.reset();   // joins the old workers; the next predict starts the new ones
        m.threads = want;
    }
    return kOk;
}

inline Status predict(Model& m, int64_t n, const void* const* inputs, const size_t* input_bytes,
                      float* const* outputs, const size_t* output_bytes, std::string& err) {
    const KccModelInfo& info = *m.spec->info;
    if (n < 0) {
        err = "predict: n must be >= 0; received " + std::to_string(n);
        return kInvalidArgument;
    }
    Status s = check_buffers("input", info.n_inputs, info.inputs, n, inputs, input_bytes, err);
    if (s == kOk)
        s = check_buffers("output", info.n_outputs, info.outputs, n, (const void* const*)outputs, output_bytes, err);
    if (s != kOk) return s;
    for (int32_t i = 0; i < info.n_inputs; ++i) {
        const int64_t bound = m.spec->id_bounds[i];
        if (bound <= 0 || info.inputs[i].dtype != KCC_INT32) continue;
        const int32_t* ids = static_cast<const int32_t*>(inputs[i]);
        const int64_t count = n * info.inputs[i].size;
        for (int64_t j = 0; j < count; ++j) {
            if (ids[j] < 0 || ids[j] >= bound) {
                err = "predict: " + tensor_name("input", i, info.inputs[i]) + " holds id " + std::to_string(ids[j]) +
                      " at sample " + std::to_string(j / info.inputs[i].size) + "; ids must lie in [0, " +
                      std::to_string(bound) + ")";
                return kInputRange;
            }
        }
    }
    if (n == 0) return kOk;
    const int64_t step = rows_per_step(info);
    reserve(m, std::min(n, step));
    std::vector<const void*> in((size_t)info.n_inputs);
    std::vector<float*> out((size_t)info.n_outputs);
    KccRun run{};
    run.weights = m.weights.data();
    run.arena = m.arena;
    run.capacity = m.capacity;
    run.inputs = in.data();
    run.outputs = out.data();
    if (m.threads > 1) {   // the unit's big ops split into tasks on the handle's workers
        if (!m.pool) m.pool.reset(new Pool(m.threads));
        run.parallel = &Pool::entry;
        run.pool = m.pool.get();
        run.workers = m.threads;
        run.worker_ws = m.worker_ws.data();
    }
    FlushDenormals ftz;
    for (int64_t lo = 0; lo < n; lo += step) {
        const int64_t count = std::min(step, n - lo);
        for (int32_t i = 0; i < info.n_inputs; ++i)
            in[i] = static_cast<const unsigned char*>(inputs[i]) + (size_t)(lo * info.inputs[i].size) * 4;
        for (int32_t i = 0; i < info.n_outputs; ++i) out[i] = outputs[i] + lo * info.outputs[i].size;
        run.batch_total = count;
        m.spec->predict(&run, count);
    }
    return kOk;
}

}  // namespace exported
}  // namespace kcc

#endif  // KCC_EXPORT_RUNTIME_H
