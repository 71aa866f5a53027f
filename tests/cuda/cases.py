"""Small models that together use every op family, for the CUDA checks.

Each case is a function of a numpy Generator returning a dict:
    model      an uncompiled kcc Model
    x, y       lists of input and target arrays (a few samples)
    loss, optimizer, metrics    compile() arguments (optimizer: a name or instance)
Cases live next to this file in cases_<area>.py modules, each with a CASES dict
{name: function}; `all_cases()` gathers them. tests/cuda/test_compile.py builds every
case's CUDA unit with nvcc (no GPU needed); tests/cuda/test_parity.py runs them on a GPU
against the CPU unit.
"""
from __future__ import annotations

import importlib
import pathlib


def all_cases() -> dict:
    out = {}
    here = pathlib.Path(__file__).resolve().parent
    for path in sorted(here.glob("cases_*.py")):
        mod = importlib.import_module(f"cases_{path.stem[len('cases_'):]}")
        for name, fn in mod.CASES.items():
            assert name not in out, f"duplicate CUDA case {name}"
            out[name] = fn
    return out
