"""The one Jinja environment every template renders in.

StrictUndefined: a missing variable is a template error with a line number, never an
empty string that turns into a baffling C++ compiler error later.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import jinja2

from kcc import activations
from kcc.layers import winograd
from kcc.utils.env import env_flag

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _cfloat(x) -> str:
    """A Python number as a C float literal that round-trips (repr is shortest exact)."""
    s = repr(float(x))
    if s in ("inf", "-inf", "nan"):
        raise ValueError(f"cannot emit {s} as a C++ constant")
    if "e" not in s and "." not in s:
        s += ".0"
    return s + "f"


def _cstr(text) -> str:
    """Any Python string as a C string literal. Layer names come from users: quotes,
    backslashes and control bytes must never end the literal early."""
    out = []
    for b in str(text).encode("utf-8"):
        c = chr(b)
        if c in '"\\' or not (32 <= b < 127) or c == "?":   # "?" avoids trigraphs
            out.append(f"\\{b:03o}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _ccomment(text) -> str:
    """Text safe inside a // comment: no line breaks, and no backslash that would splice
    the next line into the comment."""
    return "".join(" " if (ord(c) < 32 or c == "\x7f") else ("/" if c == "\\" else c)
                   for c in str(text))


def split_k_work(m: int, n: int) -> int:
    """Floats of scratch for a CUDA split-K GEMM with an m x n result (kcc::cuda::gemm_split):
    room for 64 partial results, at most 16 MB. A template asks for it in `fixed_scratch`.
    0 under KCC_CUDA_SPLIT_K=0: no room, so the GEMMs never split."""
    return 0 if not cuda_option("KCC_CUDA_SPLIT_K") else min(64 * m * n, 1 << 22)


def concat_runs(op) -> list[tuple[int, int, int, int]]:
    """A concat's operands as runs (input, width, column offset, repeats): consecutive
    operands reading the same input with the same width form one run, so RepeatVector(n)
    (one input read n times) is one run, copied by one CUDA launch each way."""
    runs, off = [], 0
    for u, w in zip(op.attrs["operands"], op.attrs["widths"]):
        if runs and runs[-1][0] == u and runs[-1][1] == w:
            runs[-1][3] += 1
        else:
            runs.append([u, w, off, 1])
        off += w
    return [tuple(r) for r in runs]


def cuda_option(name: str) -> bool:
    """A CUDA code path that `name`=0 turns off, to measure what it gains or to fall back
    from it: KCC_CUDA_SPLIT_K (split-K GEMMs), KCC_CUDA_FUSED_RNN (one-launch recurrences),
    KCC_CUDA_RNN_REGISTERS (their R in registers rather than shared memory).
    Read at each render; the choice is in the generated source, hence in the cache key."""
    return env_flag(name, True)


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["cfloat"] = _cfloat
    env.filters["cstr"] = _cstr
    env.filters["ccomment"] = _ccomment
    env.filters["product"] = lambda xs: math.prod(xs)
    env.globals["grad_name"] = lambda storage: "d_" + storage
    env.globals["align"] = lambda n: -(-n // 16) * 16
    env.globals["winograd"] = winograd.cpp_transform
    env.globals["split_k_work"] = split_k_work
    env.globals["cuda_option"] = cuda_option
    env.globals["concat_runs"] = concat_runs
    env.globals["ACT"] = {
        "linear": "Linear", "relu": "Relu", "sigmoid": "Sigmoid", "hard_sigmoid": "HardSigmoid",
        "tanh": "Tanh", "softplus": "Softplus", "elu": "Elu", "celu": "Elu", "relu6": "Relu6",
        "selu": "Selu", "softsign": "Softsign", "exponential": "Exponential",
        "leaky_relu": "LeakyRelu", "hard_tanh": "HardTanh", "log_sigmoid": "LogSigmoid",
        "sparse_plus": "SparsePlus", "squareplus": "Squareplus", "sparse_sigmoid": "SparseSigmoid",
        "soft_shrink": "SoftShrink", "hard_shrink": "HardShrink",
        # derivative from the input (kcc.activations.FROM_INPUT): dfx(x), not df(y)
        "gelu": "Gelu", "gelu_approximate": "GeluApproximate", "silu": "Silu", "mish": "Mish",
        "hard_silu": "HardSilu", "tanh_shrink": "TanhShrink",
    }
    # activations with arguments (the layers ReLU, LeakyReLU, ELU): kcc/ops/activations.h's
    # struct and its members, in order, from the op's attrs["params"]
    env.globals["ACT_WITH"] = {
        "relu": ("ReluWith", ("negative_slope", "max_value", "threshold")),
        "leaky_relu": ("LeakyReluWith", ("negative_slope",)),
        "elu": ("EluWith", ("alpha",)),
    }
    env.globals["ACT_FROM_INPUT"] = activations.FROM_INPUT
    # row activations (softmax, log_softmax): kcc/ops/activations.h's <name>_row pairs
    env.globals["ACT_ROW"] = activations.ROW
    return env


# Template file ending per backend: layers/<family>.cpp.j2 and layers/<family>.cu.j2.
EXT = {"cpu": "cpp", "cuda": "cu"}


def family(name: str, backend: str = "cpu"):
    """The macros of one op-family template (`templates/layers/<name>.<ext>.j2`)."""
    env = environment()
    try:
        return env.get_template(f"layers/{name}.{EXT[backend]}.j2").module
    except jinja2.TemplateNotFound:
        where = "" if backend == "cpu" else f" on {backend}"
        raise NotImplementedError(f"kcc has no code template for op family '{name}'{where}") from None
