// kcc/model_abi.h: the C interface between one generated model unit and whoever drives it
// (the Python runtime module today, the exported C library later).
//
// A generated unit knows every size at compile time except the batch: it exports one
// description (KccModelInfo) and a handful of step functions that take a KccRun, which
// holds every pointer the step touches. The unit allocates nothing; the driver owns all
// memory, so a training step allocates nothing either.
#ifndef KCC_MODEL_ABI_H
#define KCC_MODEL_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KCC_ABI_VERSION 4
#define KCC_MAX_RANK 8
#define KCC_WHOLE_BATCH_TEST 2   // KccModelInfo::whole_batch: test steps see whole batches too

enum KccDtype { KCC_FLOAT32 = 0, KCC_INT32 = 1 };

typedef struct KccTensorInfo {
    const char* name;           // input/output layer name, e.g. "input_1", "dense_3"
    int32_t dtype;              // KccDtype
    int32_t rank;               // per-sample rank (the batch axis is not counted)
    int64_t dims[KCC_MAX_RANK]; // per-sample dims
    int64_t size;               // per-sample element count
} KccTensorInfo;

typedef struct KccWeightInfo {
    const char* name;           // "dense_1/kernel"
    int32_t rank;
    int64_t dims[KCC_MAX_RANK];
    int64_t size;               // element count
    int64_t grad_offset;        // offset of its gradient in KccRun.grads (floats), -1 if frozen
    int64_t state_offset;       // offset of its first optimizer slot in KccRun.opt_state
} KccWeightInfo;

typedef struct KccModelInfo {
    int32_t abi_version;
    const char* model_name;
    int32_t n_inputs, n_outputs, n_weights;
    const KccTensorInfo* inputs;
    const KccTensorInfo* outputs;
    const KccTensorInfo* targets;   // one per output when the model was compiled for training
    const KccWeightInfo* weights;
    int64_t arena_per_sample;       // floats of activation arena per batch row
    int64_t workspace_size;         // floats of fixed scratch after the rows (per thread)
    int64_t grads_size;             // floats of parameter gradients
    int64_t opt_state_size;         // floats of optimizer state
    int32_t n_opt_slots;            // optimizer slots per weight
    const float* opt_slot_init;     // initial value of each slot
    int32_t n_hparams;              // optimizer hyperparameters read from KccRun.hparams
    int32_t n_stats;                // accumulators a train/test step adds to
    const char* const* stat_names;  // "loss", then per-output losses and metrics
    int32_t trainable;              // 1 when train functions are present
    int32_t whole_batch;            // 1 when a training step must see the whole batch in one
                                    // kcc_forward_backward call (BatchNormalization's batch
                                    // statistics): the driver never splits it across threads;
                                    // | KCC_WHOLE_BATCH_TEST when a test step must too (a
                                    // masked loss divides by the batch's kept steps)
} KccModelInfo;

// What changes from one training step to the next, for CUDA units: it lives in device
// memory and kernels read it there, so a step captured once as a CUDA graph replays
// with the current values (CPU units read KccRun's own step/seed/row_offset).
typedef struct KccStepState {
    int64_t step;                 // optimizer iteration, 1-based: the update about to run
    uint64_t seed;                // dropout stream
    int64_t row_offset;           // global index of the batch's row 0 (dropout stream)
    int64_t cursor;               // first row of the next batch in the epoch's order (driver's)
} KccStepState;

typedef struct KccRun {
    float* const* weights;        // n_weights pointers: the layers' own buffers
    float* grads;                 // grads_size floats
    float* opt_state;             // opt_state_size floats
    float* arena;                 // arena_per_sample * capacity + workspace_size floats, aligned
    int64_t capacity;             // rows the arena was sized for
    const void* const* inputs;    // n_inputs pointers to n rows, row-major
    const void* const* targets;   // n_outputs pointers to n rows of targets
    float* const* outputs;        // n_outputs pointers to n rows (predict)
    double* stats;                // n_stats accumulators: sums over rows
    const float* hparams;         // optimizer hyperparameters, learning rate first
    int64_t step;                 // optimizer iteration, 1-based
    uint64_t seed;                // dropout stream
    int64_t row_offset;           // global index of row 0 in this batch (dropout stream)
    int64_t batch_total;          // rows the loss averages over (>= n when a batch is split)
    const float* const* grad_shards;  // more gradient buffers (other threads' batch slices),
    int32_t n_grad_shards;            // same layout as grads: the update uses their sum
    // CUDA units only (null for CPU units). Every pointer above is then a device pointer,
    // except `weights`, `inputs`, `targets` and `outputs`, host arrays of device pointers.
    void* stream;                     // the cudaStream_t every kernel of the step goes on
    const KccStepState* state;        // device memory: step, seed, row_offset
    // CPU units: intra-op parallelism, for a batch the caller runs on one thread (batch 1).
    // parallel(pool, tasks, fn, ctx) runs fn(ctx, task, worker) for every task in [0, tasks)
    // on up to `workers` threads, BLAS single-threaded inside, and returns when all are done.
    // worker_ws[w] is worker w's fixed workspace (workspace_size floats; worker 0's is this
    // arena's). Null when the caller splits the batch over its threads instead, or has none:
    // the unit then runs every task itself, in order (kcc/parallel.h).
    void (*parallel)(void* pool, int64_t tasks, void (*fn)(void* ctx, int64_t task, int64_t worker),
                     void* ctx);
    void* pool;
    int32_t workers;
    float* const* worker_ws;
} KccRun;

// Exported by every generated unit.
const KccModelInfo* kcc_model_info(void);
void kcc_predict(const KccRun* run, int64_t n);           // inference forward -> outputs
void kcc_test_step(const KccRun* run, int64_t n);         // forward + loss + metrics -> stats
void kcc_forward_backward(const KccRun* run, int64_t n);  // training forward + loss + backward -> grads, stats
// One optimizer update of every weight, or of its part-th slice of `parts` (the update
// is element-wise, so threads may each take a slice of every buffer).
void kcc_apply_gradients(const KccRun* run, int64_t part, int64_t parts);

#ifdef __cplusplus
}
#endif

#endif  // KCC_MODEL_ABI_H
