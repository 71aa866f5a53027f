"""The host emulation of CUDA (csrc/include/kcc/cuda/runtime.cuh) refuses what a GPU would
refuse and shows what a GPU would get wrong: a race between a launch's threads, a float4
access at an address that is not 16-byte aligned, a block larger than a GPU runs, shared
memory read before it is written. Every emulated CUDA test relies on these checks."""
import ctypes

import numpy as np
import pytest

HARNESS = r'''
#include <exception>
#include <string.h>
#include "kcc/cuda/runtime.cuh"
#include "kcc/cuda/block.cuh"
#include "kcc/cuda/gemm.cuh"

// an exception's message into msg (the emulation's checks throw), 0 when none was thrown
template <class F>
static int caught(char* msg, F f) {
    try {
        f();
        return 0;
    } catch (const std::exception& e) {
        strncpy(msg, e.what(), 255);
        msg[255] = 0;
        return 1;
    }
}

// x[i] = x[i + 1] in place: a race (index i reads what index i + 1 writes in the same launch)
extern "C" void racy_shift(float* x, int64_t n) {
    kcc::cuda::each(nullptr, n - 1, [=](int64_t i) { x[i] = x[i + 1]; });
}

// Each thread of a block writes its id to shared memory and reads its neighbour's in the
// same phase (a race), or in the next phase (correct).
extern "C" void block_neighbours(float* out, int threads, int barrier) {
    kcc::cuda::each_block(nullptr, 2, threads, threads, [=](kcc::cuda::Block& b) {
        if (barrier) {
            b.phase([&](int t) { b.smem[t] = (float)t; });
            b.phase([&](int t) { out[b.index * threads + t] = b.smem[(t + 1) % threads]; });
        } else {
            b.phase([&](int t) {
                b.smem[t] = (float)t;
                out[b.index * threads + t] = b.smem[(t + 1) % threads];
            });
        }
    });
}

extern "C" int block_shape(char* msg, int threads, int64_t smem_floats) {
    return caught(msg, [&] { kcc::cuda::each_block(nullptr, 1, threads, smem_floats, [](kcc::cuda::Block&) {}); });
}

extern "C" int load4_at(char* msg, const float* p) {
    float v[4];
    return caught(msg, [&] { kcc::cuda::load4(v, p); });
}
'''


@pytest.fixture(scope="module")
def lib():
    from kcc.runtime.cuda import EMULATED, build_unit
    from kcc.runtime.native import headers_digest, include_dir
    path = build_unit(HARNESS, "emulation test harness", EMULATED, str(include_dir()), headers_digest())
    h = ctypes.CDLL(str(path))
    ptr = ctypes.POINTER(ctypes.c_float)
    h.racy_shift.argtypes = [ptr, ctypes.c_int64]
    h.block_neighbours.argtypes = [ptr, ctypes.c_int, ctypes.c_int]
    h.block_shape.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int64]
    h.load4_at.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    return h


def _f(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def test_a_racy_launch_gives_different_results_on_successive_launches(lib):
    """Launches alternate between ascending and descending thread order, so a kernel whose
    result depends on the order cannot agree with its reference every time."""
    results = []
    for _ in range(2):
        x = np.arange(8, dtype=np.float32)
        lib.racy_shift(_f(x), 8)
        results.append(x)
    ascending = np.array([1, 2, 3, 4, 5, 6, 7, 7], np.float32)   # what a sequential loop gives
    descending = np.full(8, 7, np.float32)
    assert sorted(map(tuple, results)) == sorted([tuple(ascending), tuple(descending)])


def test_a_block_phase_that_reads_a_neighbours_write_is_order_dependent(lib):
    threads = 8
    want = np.tile((np.arange(threads) + 1) % threads, 2).astype(np.float32)
    out = np.zeros(2 * threads, np.float32)
    lib.block_neighbours(_f(out), threads, 1)   # with the barrier between write and read
    np.testing.assert_array_equal(out, want)
    # without it, one of the two blocks runs its threads in the other order and reads
    # shared memory its neighbour has not written yet (NaN, as on a GPU: garbage)
    out = np.zeros(2 * threads, np.float32)
    lib.block_neighbours(_f(out), threads, 0)
    assert np.isnan(out).any()
    assert not np.array_equal(out, want)


def test_blocks_a_gpu_cannot_run_are_refused(lib):
    msg = ctypes.create_string_buffer(256)
    assert lib.block_shape(msg, 1024, 96 * 256) == 0
    assert lib.block_shape(msg, 1025, 16) == 1
    assert b"1025 threads a block" in msg.value
    assert lib.block_shape(msg, 128, 227 * 256 + 1) == 1
    assert b"bytes of shared memory (at most 227 KB)" in msg.value


def test_a_misaligned_float4_access_is_refused(lib):
    msg = ctypes.create_string_buffer(256)
    buf = np.zeros(16, np.float32)
    base = buf.ctypes.data + (-buf.ctypes.data) % 16   # the first 16-byte boundary in buf
    assert lib.load4_at(msg, base) == 0
    assert lib.load4_at(msg, base + 4) == 1
    assert b"not 16-byte aligned" in msg.value
