"""Small models that together use every op family, for the CUDA checks.

Each case is a function of a numpy Generator returning a dict:
    model      an uncompiled kcc Model
    x, y       lists of input and target arrays (a few samples)
    loss, optimizer, metrics    compile() arguments (optimizer: a name or instance)
    weighted_metrics, sample_weight    optional: compile()'s weighted_metrics, and the
               weights test_emulated.py runs with (else each sample weighs 2 or 0.5)
Cases live next to this file in cases_<area>.py modules, each with a CASES dict
{name: function}; `all_cases()` gathers them. tests/cuda/test_compile.py builds every
case's CUDA unit with nvcc (no GPU needed); tests/cuda/test_parity.py runs them on a GPU
against the CPU unit.
"""
from __future__ import annotations

import concurrent.futures
import importlib
import os
import pathlib
import zlib

import numpy as np

import kcc

# CUDA (or host-emulated CUDA) against the C++ unit
RTOL, ATOL = 1e-4, 1e-5


def all_cases() -> dict:
    out = {}
    here = pathlib.Path(__file__).resolve().parent
    for path in sorted(here.glob("cases_*.py")):
        mod = importlib.import_module(f"cases_{path.stem[len('cases_'):]}")
        for name, fn in mod.CASES.items():
            assert name not in out, f"duplicate CUDA case {name}"
            out[name] = fn
    return out


def assert_close(a, b, what):
    """a == b within RTOL, and ATOL scaled by b's largest magnitude (at least 1)."""
    b = np.asarray(b, np.float64)
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=RTOL,
                               atol=ATOL * max(1.0, float(np.abs(b).max()) if b.size else 1.0),
                               err_msg=what)


def make_case(name: str, make=None) -> dict:
    """Case `name` with the same inputs and the same initial weights in every run. Two
    implementations summing in different orders can land on opposite sides of a ReLU's
    zero or a max pool's tie; with weights from OS entropy (kcc's unseeded default) such a
    flip fails one run in many (CI did: one filter's kernel gradient, 15 of 108 values
    off by one pixel's share). Seeded, a case passes or fails every time."""
    kcc.utils.set_random_seed(zlib.crc32(name.encode()))
    return (make or all_cases()[name])(np.random.default_rng(0))


def compile_cases(names=None) -> dict:
    """name -> (case, its model compiled for the CPU: a NativeModel), for every case or the
    given names. The models are made one after the other (layer names are numbered in
    order), then compiled one per core: each compile is mostly a g++ process."""
    cases = {name: make_case(name, make) for name, make in all_cases().items()
             if names is None or name in names}

    def compile_one(case):
        model = case["model"]
        model.compile(optimizer=case["optimizer"], loss=case["loss"], metrics=case["metrics"],
                      weighted_metrics=case.get("weighted_metrics"))
        return model._native

    natives = build_each(compile_one, cases)
    for name, native in natives.items():
        if isinstance(native, BaseException):
            raise native
    return {name: (cases[name], natives[name]) for name in cases}


def build_each(build, natives: dict) -> dict:
    """name -> build(native), or the exception it raised: one build per core at a time
    (each is one single-threaded compiler process)."""
    with concurrent.futures.ThreadPoolExecutor(max(1, len(os.sched_getaffinity(0)))) as pool:
        futures = {name: pool.submit(build, native) for name, native in natives.items()}
        return {name: f.exception() or f.result() for name, f in futures.items()}
