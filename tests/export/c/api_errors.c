/* The C API of an export against bad calls and bad weights files: every case must return
 * the documented status with a message that says what is wrong, and never crash. Built
 * with -fsanitize=address,undefined by tests/export/test_c_api_errors.py.
 * Usage: api_errors <weights> <twin weights> <other model's weights> <truncated weights>
 *                   <weights of another file version> */
#define _GNU_SOURCE   /* memmem */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "proc_threads.h"

static int failures = 0;

static void expect(const char* label, status_t got, status_t want, const char* needle) {
    const char* msg = API(last_error)();
    const int ok = got == want && (needle ? strstr(msg, needle) != NULL : 1);
    printf("%-4s %-34s %-34s %s\n", ok ? "ok" : "FAIL", label, API(status_name)(got), msg);
    if (!ok) {
        printf("     expected %s with a message containing '%s'\n", API(status_name)(want), needle ? needle : "");
        ++failures;
    }
}

static unsigned char* read_all(const char* path, size_t* size) {
    FILE* f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char* data = (unsigned char*)malloc(*size + 1);
    if (fread(data, 1, *size, f) != *size) { perror(path); exit(2); }
    fclose(f);
    return data;
}

/* Buffers for n samples of every input (zeros: id 0) and output. */
typedef struct { int32_t n_in, n_out; const void* in[16]; float* out[16]; size_t in_bytes[16], out_bytes[16]; } io_t;

static void io_alloc(model_t* m, io_t* io, int64_t n) {
    info_t info;
    API(num_inputs)(m, &io->n_in);
    API(num_outputs)(m, &io->n_out);
    for (int i = 0; i < io->n_in; ++i) {
        API(input_info)(m, i, &info);
        io->in_bytes[i] = (size_t)n * info.sample_bytes;
        float* buf = (float*)calloc(1, io->in_bytes[i] + 8);
        if (info.dtype == ST(FLOAT32))
            for (size_t j = 0; j < io->in_bytes[i] / 4; ++j) buf[j] = (float)((j * 7919) % 1000) / 1000.0f - 0.5f;
        io->in[i] = buf;
    }
    for (int i = 0; i < io->n_out; ++i) {
        API(output_info)(m, i, &info);
        io->out_bytes[i] = (size_t)n * info.sample_bytes;
        io->out[i] = (float*)calloc(1, io->out_bytes[i] + 8);
    }
}

/* a's outputs equal the first rows of b's within tol; else a FAIL line per output. */
static void expect_agree(const char* what, const io_t* a, const io_t* b, float tol) {
    for (int i = 0; i < a->n_out; ++i)
        for (size_t j = 0; j < a->out_bytes[i] / 4; ++j)
            if (a->out[i][j] - b->out[i][j] > tol || b->out[i][j] - a->out[i][j] > tol) {
                printf("FAIL %s disagree on output %d value %zu\n", what, i, j);
                ++failures;
                break;
            }
}

static void io_free(io_t* io) {
    for (int i = 0; i < io->n_in; ++i) free((void*)io->in[i]);
    for (int i = 0; i < io->n_out; ++i) free(io->out[i]);
}

int main(int argc, char** argv) {
    if (argc != 6) return 2;
    model_t* m = NULL;
    model_t* bad = (model_t*)1;
    info_t info;
    int32_t count;

    /* -- null pointers and bad indices -------------------------------------------------- */
    expect("create_from_file(NULL path)", API(create_from_file)(NULL, &bad), ST(ERROR_NULL_POINTER), "NULL");
    if (bad != NULL) { printf("FAIL *model not set to NULL on error\n"); ++failures; }
    expect("create_from_file(NULL out)", API(create_from_file)(argv[1], NULL), ST(ERROR_NULL_POINTER), "NULL");
    expect("create_from_memory(NULL data)", API(create_from_memory)(NULL, 100, &m), ST(ERROR_NULL_POINTER), "NULL");
    expect("num_inputs(NULL model)", API(num_inputs)(NULL, &count), ST(ERROR_NULL_POINTER), "NULL");
    expect("predict(NULL model)", API(predict)(NULL, 1, NULL, NULL, NULL, NULL), ST(ERROR_NULL_POINTER), "NULL");
    expect("free(NULL)", API(free)(NULL), ST(OK), NULL);
    expect("create_from_file(missing)", API(create_from_file)("/nonexistent/w.safetensors", &m), ST(ERROR_IO), "cannot open");

    expect("create_from_file(good)", API(create_from_file)(argv[1], &m), ST(OK), NULL);
    if (!m) { printf("FAIL no model\n"); return 1; }
    if (strcmp(API(last_error)(), "") != 0) { printf("FAIL last_error not empty after success\n"); ++failures; }
    expect("num_inputs(NULL count)", API(num_inputs)(m, NULL), ST(ERROR_NULL_POINTER), "NULL");
    expect("input_info(NULL info)", API(input_info)(m, 0, NULL), ST(ERROR_NULL_POINTER), "NULL");
    expect("input_info(index 99)", API(input_info)(m, 99, &info), ST(ERROR_INVALID_ARGUMENT), "out of range");
    expect("output_info(index -1)", API(output_info)(m, -1, &info), ST(ERROR_INVALID_ARGUMENT), "out of range");

    /* -- predict: buffers ------------------------------------------------------------------ */
    io_t io;
    io_alloc(m, &io, 3);
    expect("predict(good, n=3)", API(predict)(m, 3, io.in, io.in_bytes, io.out, io.out_bytes), ST(OK), NULL);
    expect("predict(NULL inputs)", API(predict)(m, 3, NULL, io.in_bytes, io.out, io.out_bytes), ST(ERROR_NULL_POINTER), "NULL");
    expect("predict(NULL output sizes)", API(predict)(m, 3, io.in, io.in_bytes, io.out, NULL), ST(ERROR_NULL_POINTER), "NULL");
    const void* saved_in = io.in[0];
    io.in[0] = NULL;
    expect("predict(NULL input buffer)", API(predict)(m, 3, io.in, io.in_bytes, io.out, io.out_bytes), ST(ERROR_NULL_POINTER), "is NULL");
    io.in[0] = (const char*)saved_in + 1;
    expect("predict(misaligned input)", API(predict)(m, 3, io.in, io.in_bytes, io.out, io.out_bytes), ST(ERROR_INVALID_ARGUMENT), "aligned");
    io.in[0] = saved_in;
    io.in_bytes[0] -= 4;
    expect("predict(input 4 bytes short)", API(predict)(m, 3, io.in, io.in_bytes, io.out, io.out_bytes), ST(ERROR_BUFFER_SIZE), "needs");
    io.in_bytes[0] += 4;
    io.out_bytes[io.n_out - 1] += 4;
    expect("predict(output 4 bytes long)", API(predict)(m, 3, io.in, io.in_bytes, io.out, io.out_bytes), ST(ERROR_BUFFER_SIZE), "needs");
    io.out_bytes[io.n_out - 1] -= 4;
    expect("predict(n=2 for 3-sample buffers)", API(predict)(m, 2, io.in, io.in_bytes, io.out, io.out_bytes), ST(ERROR_BUFFER_SIZE), "n=2");
    expect("predict(n=-1)", API(predict)(m, -1, io.in, io.in_bytes, io.out, io.out_bytes), ST(ERROR_INVALID_ARGUMENT), "n must be");
    expect("predict(n=INT64_MAX)", API(predict)(m, INT64_MAX, io.in, io.in_bytes, io.out, io.out_bytes), ST(ERROR_BUFFER_SIZE), NULL);
    for (int i = 0; i < io.n_in; ++i) {
        API(input_info)(m, i, &info);
        if (info.dtype != ST(INT32)) continue;
        int32_t* ids = (int32_t*)io.in[i];
        ids[info.size + 1] = 1 << 30;
        expect("predict(id too large)", API(predict)(m, 3, io.in, io.in_bytes, io.out, io.out_bytes), ST(ERROR_INPUT_RANGE), "must lie in [0,");
        ids[info.size + 1] = -1;
        expect("predict(negative id)", API(predict)(m, 3, io.in, io.in_bytes, io.out, io.out_bytes), ST(ERROR_INPUT_RANGE), "-1");
        ids[info.size + 1] = 0;
    }
    /* Large batches run in steps through one arena: 300 rows agree with 3. */
    io_t big;
    io_alloc(m, &big, 300);
    expect("predict(good, n=300)", API(predict)(m, 300, big.in, big.in_bytes, big.out, big.out_bytes), ST(OK), NULL);
    expect_agree("n=300 and n=3", &io, &big, 1e-6f);
    expect("predict(n=0)", API(predict)(m, 0, big.in, (size_t[16]){0}, big.out, (size_t[16]){0}), ST(OK), NULL);

    /* -- threads: the wide hidden layer's products split over the workers at 300 rows ---- */
    int threads = -7;
    expect("set_threads(NULL model)", API(set_threads)(NULL, 2), ST(ERROR_NULL_POINTER), "NULL");
    expect("get_threads(NULL threads)", API(get_threads)(m, NULL), ST(ERROR_NULL_POINTER), "NULL");
    expect("get_threads(default)", API(get_threads)(m, &threads), ST(OK), NULL);
    if (threads < 1) { printf("FAIL default threads %d\n", threads); ++failures; }
    expect("set_threads(-1)", API(set_threads)(m, -1), ST(ERROR_INVALID_ARGUMENT), "threads=-1");
    expect("set_threads(1025)", API(set_threads)(m, 1025), ST(ERROR_INVALID_ARGUMENT), "[1, 1024]");
    API(get_threads)(m, &threads);
    expect("set_threads(3)", API(set_threads)(m, 3), ST(OK), NULL);
    API(get_threads)(m, &threads);
    if (threads != 3) { printf("FAIL get_threads after set_threads(3): %d\n", threads); ++failures; }
    io_t par;
    io_alloc(m, &par, 300);
    for (int round = 0; round < 3; ++round) {   /* workers started, spinning, then asleep */
        expect("predict(3 threads, n=300)", API(predict)(m, 300, par.in, par.in_bytes, par.out, par.out_bytes), ST(OK), NULL);
        expect_agree("3 threads and the default", &par, &big, 1e-5f);
        if (round == 0 && os_threads() >= 0 && os_threads() < 3) {
            printf("FAIL the 3-thread predict left %d threads running, expected its 2 workers too\n", os_threads());
            ++failures;
        }
        if (round == 1) {
            struct timespec idle = {0, 20 * 1000 * 1000};
            nanosleep(&idle, NULL);
        }
    }
    expect("set_threads(1)", API(set_threads)(m, 1), ST(OK), NULL);
    expect("predict(1 thread, n=300)", API(predict)(m, 300, par.in, par.in_bytes, par.out, par.out_bytes), ST(OK), NULL);
    expect("set_threads(0)", API(set_threads)(m, 0), ST(OK), NULL);
    io_free(&par);
    io_free(&big);

    /* -- weights files ---------------------------------------------------------------------- */
    size_t size;
    unsigned char* good = read_all(argv[1], &size);
    unsigned char* copy = (unsigned char*)malloc(size);
    model_t* mm = NULL;
    memcpy(copy, good, size);
    expect("create_from_memory(good)", API(create_from_memory)(copy, size, &mm), ST(OK), NULL);
    memset(copy, 0xAB, size);   /* the model keeps its own copy */
    free(copy);
    expect("predict(memory model)", API(predict)(mm, 3, io.in, io.in_bytes, io.out, io.out_bytes), ST(OK), NULL);
    API(free)(mm);

    expect("create_from_file(truncated)", API(create_from_file)(argv[4], &mm), ST(ERROR_FORMAT), "truncated");
    expect("create_from_file(twin architecture)", API(create_from_file)(argv[2], &mm), ST(ERROR_MODEL_MISMATCH), "fingerprint");
    expect("create_from_file(other model)", API(create_from_file)(argv[3], &mm), ST(ERROR_MODEL_MISMATCH), "not of this library");
    expect("create_from_file(version 99)", API(create_from_file)(argv[5], &mm), ST(ERROR_FORMAT), "version '99'");
    expect("create_from_file(a directory)", API(create_from_file)("/", &mm), ST(ERROR_IO), NULL);

    /* -- CPU variants: this build has no x86v4 one (compiled without dispatch) ---------- */
    const char* isa = NULL;
    expect("get_isa(NULL model)", API(get_isa)(NULL, &isa), ST(ERROR_NULL_POINTER), "NULL");
    expect("get_isa(NULL isa)", API(get_isa)(m, NULL), ST(ERROR_NULL_POINTER), "NULL");
    expect("get_isa", API(get_isa)(m, &isa), ST(OK), NULL);
    if (!isa || strcmp(isa, "generic") != 0) { printf("FAIL get_isa: %s\n", isa ? isa : "NULL"); ++failures; }
    setenv("KCC_EXPORT_ISA", "avx9000", 1);
    expect("create_from_file(ISA avx9000)", API(create_from_file)(argv[1], &mm), ST(ERROR_INVALID_ARGUMENT), "avx9000");
    if (mm) { printf("FAIL create with a bad KCC_EXPORT_ISA left a handle\n"); ++failures; }
    setenv("KCC_EXPORT_ISA", "x86v4", 1);
    expect("create_from_memory(ISA x86v4)", API(create_from_memory)(good, size, &mm), ST(ERROR_INVALID_ARGUMENT),
           "no x86v4 variant");
    setenv("KCC_EXPORT_ISA", "generic", 1);
    expect("create_from_file(ISA generic)", API(create_from_file)(argv[1], &mm), ST(OK), NULL);
    API(free)(mm);
    unsetenv("KCC_EXPORT_ISA");

    int truncations_ok = 1;
    for (size_t cut = 0; cut < size; cut += (cut < 4096 ? 1 : 97)) {
        unsigned char* part = (unsigned char*)malloc(cut ? cut : 1);   /* exact size: ASan sees overreads */
        memcpy(part, good, cut);
        status_t s = API(create_from_memory)(part, cut, &mm);
        if (s != ST(ERROR_FORMAT) || mm != NULL) {
            printf("FAIL truncated to %zu bytes: %s %s\n", cut, API(status_name)(s), API(last_error)());
            truncations_ok = 0;
            ++failures;
            API(free)(mm);
        }
        free(part);
        if (!truncations_ok) break;
    }
    printf("%-4s every truncation -> ERROR_FORMAT\n", truncations_ok ? "ok" : "FAIL");

    unsigned char* bent = (unsigned char*)malloc(size);
    memcpy(bent, good, size);
    bent[5] = 0x7F;  /* header length ~ 2^47 */
    expect("header length corrupted", API(create_from_memory)(bent, size, &mm), ST(ERROR_FORMAT), "header says");
    memcpy(bent, good, size);
    bent[8] = 'x';
    expect("header JSON corrupted", API(create_from_memory)(bent, size, &mm), ST(ERROR_FORMAT), "invalid header JSON");
    const uint64_t header = good[0] | (uint64_t)good[1] << 8 | (uint64_t)good[2] << 16 | (uint64_t)good[3] << 24;
    memcpy(bent, good, size);
    unsigned char* fmt = (unsigned char*)memmem(bent + 8, header, "kcc-export-weights", 18);
    if (fmt) fmt[0] = 'K';
    expect("metadata format changed", API(create_from_memory)(bent, size, &mm), ST(ERROR_FORMAT), "not the weights of a kcc export");
    /* Every byte of the header replaced by each of a few bytes: an error or a model, never a crash. */
    const unsigned char subs[] = {'"', '{', '}', '[', ']', ',', ':', '\\', '9', 'F', 0, 0xFF};
    long n_ok = 0, n_err = 0;
    for (uint64_t k = 0; k < 8 + header && k < size; ++k) {
        for (size_t s = 0; s < sizeof subs; ++s) {
            memcpy(bent, good, size);
            bent[k] = subs[s];
            status_t st = API(create_from_memory)(bent, size, &mm);
            if (st == ST(OK)) { ++n_ok; API(free)(mm); }
            else if (st == ST(ERROR_FORMAT) || st == ST(ERROR_MODEL_MISMATCH)) ++n_err;
            else { printf("FAIL byte %llu -> %s\n", (unsigned long long)k, API(status_name)(st)); ++failures; }
        }
    }
    printf("ok   header byte substitutions: %ld rejected, %ld still valid, no crash\n", n_err, n_ok);

    free(bent);
    free(good);
    io_free(&io);
    API(free)(m);
    printf("%s: %d failures\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
