/* A program of another project that uses an installed export through find_package.
 * Usage: consumer <weights> <n> <dir> <threads>: reads <dir>/in_<i>.bin (n samples of
 * input i), predicts on <threads> threads (0: the library's default) the whole batch, then
 * each sample alone (batch 1, where the threads split single operations), writes the
 * batch's outputs to <dir>/out_<i>.bin, and fails when the samples alone disagree. It
 * prints the CPU variant the handle ran (KCC_EXPORT_ISA forces one). */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "proc_threads.h"

static float absf(float v) { return v < 0 ? -v : v; }   /* no libm needed */

static int fail(const char* what) {
    fprintf(stderr, "consumer: %s: %s\n", what, API(last_error)());
    return 1;
}

int main(int argc, char** argv) {
    if (argc != 5) return 2;
    const long long n = atoll(argv[2]);
    const int threads = atoi(argv[4]);
    model_t* model = NULL;
    if (API(create_from_file)(argv[1], &model) != ST(OK)) return fail("create");
    if (threads != 0 && API(set_threads)(model, threads) != ST(OK)) return fail("set_threads");
    int used = 0;
    if (API(get_threads)(model, &used) != ST(OK) || used < 1 || (threads != 0 && used != threads)) return fail("get_threads");
    int32_t n_in = 0, n_out = 0;
    if (API(num_inputs)(model, &n_in) != ST(OK) || API(num_outputs)(model, &n_out) != ST(OK)) return fail("count");
    const void* in[16];
    float* out[16];
    size_t in_bytes[16], out_bytes[16];
    char path[4096];
    for (int i = 0; i < n_in; ++i) {
        info_t info;
        if (API(input_info)(model, i, &info) != ST(OK)) return fail("input_info");
        in_bytes[i] = (size_t)n * info.sample_bytes;
        void* buf = malloc(in_bytes[i] + 1);
        snprintf(path, sizeof path, "%s/in_%d.bin", argv[3], i);
        FILE* f = fopen(path, "rb");
        if (!f || fread(buf, 1, in_bytes[i], f) != in_bytes[i]) { fprintf(stderr, "cannot read %s\n", path); return 2; }
        fclose(f);
        in[i] = buf;
    }
    for (int i = 0; i < n_out; ++i) {
        info_t info;
        if (API(output_info)(model, i, &info) != ST(OK)) return fail("output_info");
        out_bytes[i] = (size_t)n * info.sample_bytes;
        out[i] = (float*)malloc(out_bytes[i] + 1);
    }
    if (API(predict)(model, n, in, in_bytes, out, out_bytes) != ST(OK)) return fail("predict");
    /* Each sample alone agrees with its row of the batch. */
    float* one[16];
    const void* one_in[16];
    size_t one_in_bytes[16], one_out_bytes[16];
    for (int i = 0; i < n_out; ++i) {
        one_out_bytes[i] = out_bytes[i] / (size_t)(n ? n : 1);
        one[i] = (float*)malloc(one_out_bytes[i] + 1);
    }
    for (long long r = 0; r < n; ++r) {
        for (int i = 0; i < n_in; ++i) {
            one_in_bytes[i] = in_bytes[i] / (size_t)n;
            one_in[i] = (const char*)in[i] + (size_t)r * one_in_bytes[i];
        }
        if (API(predict)(model, 1, one_in, one_in_bytes, one, one_out_bytes) != ST(OK)) return fail("predict one");
        for (int i = 0; i < n_out; ++i)
            for (size_t j = 0; j < one_out_bytes[i] / 4; ++j) {
                const float b = out[i][(size_t)r * (one_out_bytes[i] / 4) + j];
                if (!(absf(one[i][j] - b) <= 1e-5f + 1e-5f * absf(b))) {
                    fprintf(stderr, "consumer: sample %lld alone, output %d value %zu: %.9g, in the batch %.9g\n",
                            r, i, j, one[i][j], b);
                    return 1;
                }
            }
    }
    for (int i = 0; i < n_out; ++i) free(one[i]);
    for (int i = 0; i < n_out; ++i) {
        snprintf(path, sizeof path, "%s/out_%d.bin", argv[3], i);
        FILE* f = fopen(path, "wb");
        if (!f || fwrite(out[i], 1, out_bytes[i], f) != out_bytes[i]) { fprintf(stderr, "cannot write %s\n", path); return 2; }
        fclose(f);
        free(out[i]);
    }
    for (int i = 0; i < n_in; ++i) free((void*)in[i]);
    const int running = os_threads();   /* before free joins the workers */
    const char* isa = NULL;
    if (API(get_isa)(model, &isa) != ST(OK) || !isa) return fail("get_isa");
    API(free)(model);
    printf("consumer: isa %s, %lld samples, %d inputs, %d outputs, %d threads, os threads %d\n", isa, n, (int)n_in,
           (int)n_out, used, running);
    return 0;
}
