"""kcc's exported C library, timed from C (framework 'kcc', mode 'export').

For each inference task: the workload's kcc model is exported with
`model.export(dir, name=...)` (kcc.export.export_model), configured and built with CMake
in Release with the export's defaults (a BLAS when find_package(BLAS) finds one with
cblas_sgemm, else the portable GEMM: the record's `gemm` says which; any x86-64 with CPU
dispatch, so the AVX-512 variant runs where the CPU has it: the record's `isa` says which),
and a small C program (TIMING_C below, compiled with the system C compiler against the
built shared library) loads the weights through the C API, sets the library's threads to THREADS
(`<name>_set_threads`: its big ops split over the handle's workers, as ONNX Runtime's
run on its 2 intra-op threads), makes `warmup` predict calls on the task's batch, then
the timed calls, one clock_gettime(CLOCK_MONOTONIC) pair per call, and prints one
latency per line. The program runs with OPENBLAS_NUM_THREADS=1 (the library threads
itself; a threaded BLAS inside its workers would compete with them). The inputs are the
workload's `infer_data`, written as raw files. No Python runs while timing. Training
tasks do not apply (`supports()`).
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import common
from peers import kcc_native

FRAMEWORK = "kcc"
MODE = "export"
LIB_NAME = "bench_model"
THREADS = 2           # the library's threads (ort: 2 intra-op threads)
BLAS_THREADS = "1"    # OPENBLAS_NUM_THREADS of the timing program
# The export's defaults: NATIVE=OFF (runs on any x86-64) with CPU dispatch ON, so the
# library picks its AVX-512 (x86-64-v4) variant at run time where the CPU has it, as ONNX
# Runtime picks its AVX-512 kernels. The record's `isa` says which variant ran. (Before
# dispatch, the portable default ran W6 at 86 ms against ~54 ms with NATIVE=ON.)
NATIVE = False

# One program for every export: the API's names come in through -DAPI(x)=<name>_##x.
TIMING_C = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define API(x) CAT(PREFIX, x)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void* read_file(const char* path, size_t want) {
    FILE* f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(2); }
    void* buf = malloc(want + 64);
    if (fread(buf, 1, want, f) != want) { fprintf(stderr, "short read %s\n", path); exit(2); }
    fclose(f);
    return buf;
}

/* usage: timing weights threads n warmup calls out_file in_0 [in_1 ...] */
int main(int argc, char** argv) {
    if (argc < 7) { fprintf(stderr, "usage: timing weights threads n warmup calls out in...\n"); return 2; }
    int threads = atoi(argv[2]);
    long long n = atoll(argv[3]);
    int warmup = atoi(argv[4]), calls = atoi(argv[5]);
    API(model)* model = NULL;
    if (API(create_from_file)(argv[1], &model) != 0) { fprintf(stderr, "%s\n", API(last_error)()); return 1; }
    if (API(set_threads)(model, threads) != 0) { fprintf(stderr, "%s\n", API(last_error)()); return 1; }
    const char* isa = "?";
    if (API(get_isa)(model, &isa) != 0) { fprintf(stderr, "%s\n", API(last_error)()); return 1; }
    printf("isa %s\n", isa);
    int32_t n_in = 0, n_out = 0;
    API(num_inputs)(model, &n_in);
    API(num_outputs)(model, &n_out);
    if (argc != 7 + n_in) { fprintf(stderr, "expected %d input files\n", (int)n_in); return 2; }
    const void** in = malloc(sizeof(void*) * n_in);
    size_t* in_bytes = malloc(sizeof(size_t) * n_in);
    float** out = malloc(sizeof(float*) * n_out);
    size_t* out_bytes = malloc(sizeof(size_t) * n_out);
    API(tensor_info) info;
    for (int i = 0; i < n_in; ++i) {
        API(input_info)(model, i, &info);
        in_bytes[i] = (size_t)n * info.sample_bytes;
        in[i] = read_file(argv[7 + i], in_bytes[i]);
    }
    for (int i = 0; i < n_out; ++i) {
        API(output_info)(model, i, &info);
        out_bytes[i] = (size_t)n * info.sample_bytes;
        out[i] = malloc(out_bytes[i] + 64);
    }
    double* lat = malloc(sizeof(double) * (calls > 0 ? calls : 1));
    double t0 = now();
    if (API(predict)(model, n, in, in_bytes, out, out_bytes) != 0) {
        fprintf(stderr, "%s\n", API(last_error)());
        return 1;
    }
    printf("first %.9f\n", now() - t0);
    for (int i = 0; i < warmup; ++i) API(predict)(model, n, in, in_bytes, out, out_bytes);
    for (int i = 0; i < calls; ++i) {
        double t = now();
        int rc = API(predict)(model, n, in, in_bytes, out, out_bytes);
        lat[i] = now() - t;
        if (rc != 0) { fprintf(stderr, "%s\n", API(last_error)()); return 1; }
    }
    for (int i = 0; i < calls; ++i) printf("%.9f\n", lat[i]);
    FILE* f = fopen(argv[6], "wb");   /* output 0, to check against kcc's own predict */
    fwrite(out[0], 1, out_bytes[0], f);
    fclose(f);
    API(free)(model);
    return 0;
}
"""


def supports(workload, name):
    """Inference tasks only: the export is the predict unit."""
    return name.startswith("infer")


def setup():
    meta = kcc_native.setup()
    meta["threads"] = THREADS   # the library's own (set_threads); the BLAS runs on one
    meta["cmake"] = _first_line(["cmake", "--version"])
    meta["cc"] = _first_line([os.environ.get("CC", "cc"), "--version"])
    return meta


def _first_line(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[0]


def _run(cmd, log, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-800:]
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {tail}")
    return proc.stdout


def _gemm(build_dir):
    """Which GEMM the build chose: 'blas (<library>)' or 'portable'."""
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        cache = f.read()
    on = re.search(rf"^{LIB_NAME.upper()}_HAVE_CBLAS_SGEMM:INTERNAL=1$", cache, re.M)
    if not on:
        return "portable"
    libs = re.findall(r"^BLAS_\w+_LIBRARY:FILEPATH=(/\S+)$", cache, re.M)
    return f"blas ({', '.join(libs)})" if libs else "blas"


def run_task(workload, name, task, repeats):
    if not supports(workload, name):
        raise ValueError(f"kcc-export runs inference tasks only, not {name}")
    import numpy as np

    data = workload.infer_data(task)
    arrays = [np.ascontiguousarray(a) for a in (data if isinstance(data, (list, tuple)) else [data])]
    model = workload.build_kcc()      # the weights are the layers' own: export and predict agree

    tmp = tempfile.mkdtemp(prefix="bench-kcc-export-")
    try:
        log = os.path.join(tmp, "build.log")
        src, build = os.path.join(tmp, "lib"), os.path.join(tmp, "build")
        t0 = time.perf_counter()
        model.export(src, name=LIB_NAME)
        export_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        _run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
              f"-D{LIB_NAME.upper()}_BUILD_TESTS=OFF", f"-D{LIB_NAME.upper()}_BUILD_EXAMPLE=OFF",
              f"-D{LIB_NAME.upper()}_NATIVE={'ON' if NATIVE else 'OFF'}", f"-D{LIB_NAME.upper()}_DISPATCH=ON"],
             log)
        _run(["cmake", "--build", build, "--target", LIB_NAME, "-j", str(os.cpu_count() or 2)], log)
        build_s = time.perf_counter() - t0
        lib = os.path.join(build, f"lib{LIB_NAME}.so")
        lib_bytes = os.path.getsize(lib)
        stripped = os.path.join(tmp, "stripped.so")   # what an install with -s would ship
        lib_bytes_stripped = (os.path.getsize(stripped) if shutil.which("strip") and
                              subprocess.run(["strip", "-o", stripped, lib]).returncode == 0
                              else None)
        gemm = _gemm(build)

        timing_c, timing = os.path.join(tmp, "timing.c"), os.path.join(tmp, "timing")
        with open(timing_c, "w") as f:
            f.write(TIMING_C)
        _run([os.environ.get("CC", "cc"), "-O2", "-std=c11", timing_c, "-o", timing,
              f"-I{os.path.join(src, 'include')}", f'-DHEADER="{LIB_NAME}.h"',
              f"-DPREFIX={LIB_NAME}_", f"-L{build}", f"-l{LIB_NAME}",
              f"-Wl,-rpath,{build}"], log)

        inputs = []
        for i, a in enumerate(arrays):
            a = a.astype(np.int32 if a.dtype.kind in "iu" else np.float32, copy=False)
            path = os.path.join(tmp, f"in{i}.bin")
            a.tofile(path)
            inputs.append(path)
        out_path = os.path.join(tmp, "out0.bin")
        calls = task.calls_per_repeat * repeats
        env = dict(os.environ, OPENBLAS_NUM_THREADS=BLAS_THREADS)
        stdout = _run([timing, os.path.join(src, f"{LIB_NAME}.safetensors"), str(THREADS),
                       str(task.batch_size), str(task.warmup), str(calls), out_path] + inputs,
                      log, timeout=3600, env=env)
        lines = stdout.split()
        isa = lines[1]                                 # "isa <variant>"
        first_call_s = float(lines[3])                 # "first <seconds>"
        lat = [float(v) for v in lines[4:]]
        if len(lat) != calls:
            raise RuntimeError(f"timing program printed {len(lat)} latencies, expected {calls}")

        expected = model.predict_on_batch(arrays if len(arrays) > 1 else arrays[0])
        expected = np.asarray(expected[0] if isinstance(expected, list) else expected)
        got = np.fromfile(out_path, dtype=np.float32).reshape(expected.shape)
        max_diff = float(np.max(np.abs(got - expected)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    extra = dict(compile_s=round(export_s + build_s, 4), export_s=round(export_s, 4),
                 build_s=round(build_s, 4), first_call_s=round(first_call_s, 6), gemm=gemm,
                 threads=THREADS, blas_threads=BLAS_THREADS, native=NATIVE, isa=isa,
                 max_abs_diff_vs_kcc_predict=max_diff, lib_bytes=lib_bytes,
                 lib_bytes_stripped=lib_bytes_stripped)
    return common.infer_record(workload.NAME, name, FRAMEWORK, MODE, task, lat, repeats, **extra)
