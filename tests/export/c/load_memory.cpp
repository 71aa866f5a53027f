// Loads the weights file argv[1] with kcc/export/runtime.h's load_file for a hand-written
// model of two weights, "big" (argv[2] floats) and "small" (16 floats), and prints how
// much the process's peak resident memory grew while loading, and a checksum of each
// loaded weight, for tests/export/test_load_memory.py.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "kcc/export/runtime.h"

// A /proc/self/status field in kB ("VmRSS", "VmHWM").
static long status_kb(const char* field) {
    FILE* f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0 && line[strlen(field)] == ':') kb = atol(line + strlen(field) + 1);
    if (f) fclose(f);
    return kb;
}

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    const int64_t big = atoll(argv[2]);
    KccWeightInfo weights[2] = {};
    weights[0].name = "big";
    weights[0].rank = 1;
    weights[0].dims[0] = big;
    weights[0].size = big;
    weights[1].name = "small";
    weights[1].rank = 1;
    weights[1].dims[0] = 16;
    weights[1].size = 16;
    KccModelInfo info = {};
    info.abi_version = KCC_ABI_VERSION;
    info.model_name = "two_weights";
    info.n_weights = 2;
    info.weights = weights;
    const kcc::exported::Spec spec{&info, nullptr, "fp-test", nullptr};

    const long before = status_kb("VmRSS");
    kcc::exported::Model* model = nullptr;
    std::string err;
    const kcc::exported::Status s = kcc::exported::load_file(spec, argv[1], &model, err);
    const long peak = status_kb("VmHWM");
    if (s != kcc::exported::kOk) {
        printf("error %d %s\n", (int)s, err.c_str());   // a refusal is an answer, not a failure
        return 0;
    }
    printf("peak_growth_bytes %ld\n", (peak - before) * 1024);
    for (int w = 0; w < 2; ++w) {
        double sum = 0;
        for (int64_t i = 0; i < weights[w].size; ++i) sum += model->weights[(size_t)w][i];
        printf("sum %s %.17g\n", weights[w].name, sum);
    }
    delete model;
    return 0;
}
