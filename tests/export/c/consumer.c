/* A program of another project that uses an installed export through find_package.
 * Usage: consumer <weights> <n> <dir>: reads <dir>/in_<i>.bin (n samples of input i),
 * predicts, writes <dir>/out_<i>.bin. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"

static int fail(const char* what) {
    fprintf(stderr, "consumer: %s: %s\n", what, API(last_error)());
    return 1;
}

int main(int argc, char** argv) {
    if (argc != 4) return 2;
    const long long n = atoll(argv[2]);
    model_t* model = NULL;
    if (API(create_from_file)(argv[1], &model) != ST(OK)) return fail("create");
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
    for (int i = 0; i < n_out; ++i) {
        snprintf(path, sizeof path, "%s/out_%d.bin", argv[3], i);
        FILE* f = fopen(path, "wb");
        if (!f || fwrite(out[i], 1, out_bytes[i], f) != out_bytes[i]) { fprintf(stderr, "cannot write %s\n", path); return 2; }
        fclose(f);
        free(out[i]);
    }
    for (int i = 0; i < n_in; ++i) free((void*)in[i]);
    API(free)(model);
    printf("consumer: %lld samples, %d inputs, %d outputs\n", n, (int)n_in, (int)n_out);
    return 0;
}
