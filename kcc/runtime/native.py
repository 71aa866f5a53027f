"""From a traced graph to a loaded native model: passes, render, build, load, bind.

`NativeModel` is the compiled form of one (model, compile config): the generated unit
built into the cache and a runtime Session (kcc._runtime, built once at install) that
drives it. The weights it uses are the layers' own buffers, bound by pointer.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import time
from pathlib import Path

import numpy as np

from kcc.build import build_shared_library, default_toolchain
from kcc.build.pch import with_prelude
from kcc.codegen import prelude, render, stat_names
from kcc.codegen.canonical import canonical
from kcc.graph.ir import Graph
from kcc.passes import optimize, plan_memory

_PKG = Path(__file__).resolve().parent.parent


def debug(msg: str) -> None:
    if os.environ.get("KCC_DEBUG"):
        print(f"[kcc] {msg}", flush=True)


@functools.lru_cache(maxsize=1)
def include_dir() -> Path:
    """The runtime headers: the source tree's in a checkout, else the installed copy."""
    for p in (_PKG.parent / "csrc" / "include", _PKG / "include"):
        if (p / "kcc" / "model_abi.h").is_file():
            return p
    raise RuntimeError(f"kcc's C++ headers are missing (looked in {_PKG.parent / 'csrc/include'} "
                       f"and {_PKG / 'include'}); reinstall kcc")


@functools.lru_cache(maxsize=1)
def headers_digest() -> str:
    """Part of the cache key: a header change must rebuild every model."""
    h = hashlib.sha256()
    root = include_dir()
    for p in sorted(list(root.rglob("*.h")) + list(root.rglob("*.cuh"))):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def with_headers_precompiled(toolchain, backend: str):
    """`toolchain` compiling each unit after kcc's headers, parsed once (kcc/build/pch.py):
    the units' #include lines for `backend`, with every kcc/ops header."""
    ops = [p.stem for p in (include_dir() / "kcc" / "ops").glob("*.h")]
    return with_prelude(toolchain, prelude(backend, ops), [str(include_dir())], headers_digest())


@functools.lru_cache(maxsize=1)
def blas() -> dict:
    import scipy_openblas32 as ob
    return dict(include_dirs=[], library_dirs=[ob.get_lib_dir()], libraries=[ob.get_library()],
                rpaths=[ob.get_lib_dir()], defines=["KCC_USE_BLAS", "KCC_BLAS_PREFIX=scipy_"])


def runtime_module():
    try:
        from kcc import _runtime
    except ImportError:
        raise ImportError(
            f"kcc's native runtime (kcc._runtime) is not built in {_PKG}. This happens when "
            f"Python imports kcc from a source checkout: install it (`pip install .`, or "
            f"`pip install -e .` to develop) and run the tests with `pytest`, not "
            f"`python -m pytest`, which puts the checkout first on sys.path") from None
    return _runtime


def default_threads() -> int:
    """KCC_NUM_THREADS when set (as an exported library reads it), else every CPU this
    process may run on."""
    env = os.environ.get("KCC_NUM_THREADS", "").strip()
    if env:
        if not env.isdigit() or not 1 <= int(env) <= 1024:
            raise ValueError(f"KCC_NUM_THREADS must be a whole number of threads from 1 to 1024; "
                             f"got {env!r}")
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _load(_runtime, library, toolchain, what: str):
    """A Session over the built library, or an error that says what to check: a library that
    built but does not load was usually linked by a C compiler ($CXX=gcc: no C++ runtime)."""
    try:
        return _runtime.Session(str(library))
    except RuntimeError as exc:
        cxx = os.environ.get("CXX")
        raise RuntimeError(
            f"{what}: the library kcc built cannot be loaded: {exc}. It was compiled and linked "
            f"by {toolchain.compiler}" + (f" ($CXX={cxx!r})" if cxx else "") + "; kcc needs a "
            f"C++17 compiler driver such as g++ or clang++ (a C driver like gcc leaves out the "
            f"C++ runtime)") from None


class NativeModel:
    """device: "cpu" (C++ unit, kcc._runtime.Session) or "cuda" (CUDA unit, the driver
    of kcc/runtime/cuda.py). Both sessions have the same methods."""

    def __init__(self, graph: Graph, what: str, device: str = "cpu"):
        t0 = time.perf_counter()
        self.device = device
        if device == "cuda":
            from kcc.runtime import cuda
            arch = cuda.device_arch()   # fails before building when no GPU can run the result
        else:
            _runtime = runtime_module()
        self.lowered = graph.copy()   # before the passes, for cuda_source
        self.graph = optimize(graph, device)
        # the unit is rendered with canonical names, so that the same architecture hits the
        # build cache however its layers are named; self.graph keeps the names users read
        unit = canonical(self.graph)
        predict, train = plan_memory(unit)
        self.what = what
        self.source = render(unit, predict, train, backend=device)
        self._stat_names = stat_names(self.graph) if train is not None else []
        if os.environ.get("KCC_DEBUG"):
            debug(self.graph.dump())
        if device == "cuda":
            self.library = cuda.build_unit(self.source, what, arch, str(include_dir()), headers_digest())
            from kcc.runtime.cuda_session import CudaSession
            self.session = CudaSession(self.library, arch)
        else:
            b = blas()
            tc = default_toolchain()
            tc = dataclasses.replace(tc, cxxflags=tuple(tc.cxxflags) + tuple(f"-D{d}" for d in b["defines"]))
            tc = with_headers_precompiled(tc, "cpu")
            self.library = build_shared_library(
                {"model.cpp": self.source}, include_dirs=[str(include_dir())] + b["include_dirs"],
                library_dirs=b["library_dirs"], libraries=b["libraries"], rpaths=b["rpaths"],
                toolchain=tc, extra_key=headers_digest(), what=what)
            self.session = _load(_runtime, self.library, tc, what)
        self.info = self._display_names(self.session.info)
        # (per-sample shape, dtype) of each output, computed once: predict runs per call at batch 1
        self._out_shapes = [(tuple(o["shape"]), np.dtype(o["dtype"])) for o in self.info["outputs"]]
        g = self.graph
        # input layer name -> (ids must be below, layer that reads them): checked in Python
        self.id_bounds = {g.input_names[g.inputs.index(v)]: b for v, b in g.id_bounds.items()}
        self.session.bind_weights([w.buffer for w in self.graph.weights])
        self.session.set_threads(default_threads())
        self.build_seconds = time.perf_counter() - t0
        debug(f"{what}: native model ready in {self.build_seconds:.3f} s ({self.library})")

    def _display_names(self, info: dict) -> dict:
        """The unit's info with the model's own names in place of the canonical ones it was
        rendered with (same order: the canonical graph is a renamed copy of self.graph)."""
        g = self.graph
        info = dict(info)
        info["model_name"] = g.name
        for key, names in (("inputs", g.input_names), ("outputs", g.output_names), ("targets", g.output_names)):
            if key in info:
                info[key] = [{**t, "name": name} for t, name in zip(info[key], names)]
        info["weights"] = [(w.name, shape) for w, (_, shape) in zip(g.weights, info["weights"])]
        info["stat_names"] = list(self._stat_names)
        return info

    @functools.cached_property
    def plans(self):
        """The memory plans (predict, train) under the model's own names, for tests and
        debugging: the unit's were planned on its canonical copy, and a compile need not
        plan twice."""
        return plan_memory(self.graph)

    @property
    def stat_names(self) -> list[str]:
        """Keras's log keys, from the model's own names (the unit's are canonical)."""
        return list(self._stat_names)

    def begin_call(self):
        """A fit/evaluate/predict call starts: a device session re-uploads its data."""
        forget = getattr(self.session, "forget_data", None)
        if forget is not None:
            forget()

    def predict(self, xs: list[np.ndarray], n: int, batch_size: int) -> list[np.ndarray]:
        outs = [np.empty((n,) + s, dtype) for s, dtype in self._out_shapes]
        if n:   # an int32 output (ids handed on by views) is copied as it is, 4 bytes a value
            self.session.predict(xs, [o if o.dtype == np.float32 else o.view(np.float32)
                                      for o in outs], n, batch_size)
        return outs

    def gradients(self, xs: list[np.ndarray], ys: list[np.ndarray], seed: int = 0):
        """Loss-gradient of every weight for one batch holding all rows, no update.
        Returns (stat sums, {weight name: gradient array shaped like the weight})."""
        self.begin_call()
        sums, grads = self.session.gradients(xs, ys, len(xs[0]), seed)
        out = {}
        for w, gr in zip(self.graph.weights, grads):
            if gr is not None:
                out[w.name] = np.asarray(gr).reshape(w.shape)
        return sums, out
