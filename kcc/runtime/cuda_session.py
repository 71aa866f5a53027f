"""The CUDA driver as Python sees it: csrc/cuda/session.cu, built once per machine into the
kcc cache with nvcc (or, under KCC_CUDA_EMULATE=1, with the host compiler) and loaded with
ctypes, and CudaSession, which gives it the methods of kcc._runtime.Session so the trainer
drives either backend the same way."""
from __future__ import annotations

import ctypes
import functools
import os

from kcc.build import build_shared_library
from kcc.build.toolchain import cuda_lib_dir, cuda_toolchain
from kcc.runtime.cuda import EMULATED, cudart, emulation_toolchain

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _driver_source() -> str:
    for p in (os.path.join(os.path.dirname(_PKG), "csrc", "cuda", "session.cu"),
              os.path.join(_PKG, "csrc", "cuda", "session.cu")):
        if os.path.isfile(p):
            with open(p, encoding="utf-8") as f:
                return f.read()
    raise RuntimeError("kcc's CUDA driver source (csrc/cuda/session.cu) is missing; reinstall kcc")


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int32), ("rank", ctypes.c_int32),
                ("dims", ctypes.c_int64 * 8), ("size", ctypes.c_int64)]


class _WeightInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("rank", ctypes.c_int32), ("dims", ctypes.c_int64 * 8),
                ("size", ctypes.c_int64), ("grad_offset", ctypes.c_int64), ("state_offset", ctypes.c_int64)]


class _ModelInfo(ctypes.Structure):
    _fields_ = [("abi_version", ctypes.c_int32), ("model_name", ctypes.c_char_p),
                ("n_inputs", ctypes.c_int32), ("n_outputs", ctypes.c_int32), ("n_weights", ctypes.c_int32),
                ("inputs", ctypes.POINTER(_TensorInfo)), ("outputs", ctypes.POINTER(_TensorInfo)),
                ("targets", ctypes.POINTER(_TensorInfo)), ("weights", ctypes.POINTER(_WeightInfo)),
                ("arena_per_sample", ctypes.c_int64), ("workspace_size", ctypes.c_int64),
                ("grads_size", ctypes.c_int64), ("opt_state_size", ctypes.c_int64),
                ("n_opt_slots", ctypes.c_int32), ("opt_slot_init", ctypes.POINTER(ctypes.c_float)),
                ("n_hparams", ctypes.c_int32), ("n_stats", ctypes.c_int32),
                ("stat_names", ctypes.POINTER(ctypes.c_char_p)), ("trainable", ctypes.c_int32),
                ("whole_batch", ctypes.c_int32)]


_HOOK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
                         ctypes.POINTER(ctypes.c_double))
_P = ctypes.c_void_p


def build_driver(arch: str):
    """The CUDA driver for `arch` (or EMULATED) built into the cache; its path. Needs no GPU
    (CI compiles it for sm_90)."""
    from kcc.runtime.native import headers_digest, include_dir
    if arch == EMULATED:
        return build_shared_library({"session_emulated.cpp": _driver_source()},
                                    include_dirs=[str(include_dir())], library_dirs=[],
                                    libraries=["dl"], rpaths=[], toolchain=emulation_toolchain(),
                                    extra_key=headers_digest(), what="kcc's CUDA driver (emulated)")
    libdir = cuda_lib_dir()
    return build_shared_library({"session.cu": _driver_source()}, include_dirs=[str(include_dir())],
                                library_dirs=[libdir] if libdir else [], libraries=["dl"],
                                rpaths=[libdir] if libdir else [],
                                toolchain=cuda_toolchain(arch), extra_key=headers_digest(),
                                what="kcc's CUDA driver")


@functools.lru_cache(maxsize=None)
def driver(arch: str) -> ctypes.CDLL:
    """The CUDA driver library for `arch` (or EMULATED), built on first use and loaded."""
    if arch != EMULATED:
        cudart()   # load libcudart globally first, with a clear error if it is missing
    path = build_driver(arch)
    lib = ctypes.CDLL(str(path))
    sig = {
        "kcc_cuda_last_error": (ctypes.c_char_p, []),
        "kcc_cuda_open": (_P, [ctypes.c_char_p]),
        "kcc_cuda_close": (None, [_P]),
        "kcc_cuda_info": (ctypes.POINTER(_ModelInfo), [_P]),
        "kcc_cuda_upload_weights": (ctypes.c_int, [_P, ctypes.POINTER(_P)]),
        "kcc_cuda_download_weights": (ctypes.c_int, [_P, ctypes.POINTER(_P)]),
        "kcc_cuda_reset_optimizer": (ctypes.c_int, [_P]),
        "kcc_cuda_get_optimizer_state": (ctypes.c_int, [_P, _P]),
        "kcc_cuda_set_optimizer_state": (ctypes.c_int, [_P, _P]),
        "kcc_cuda_set_hparams": (ctypes.c_int, [_P, _P, ctypes.c_int32]),
        "kcc_cuda_get_step": (ctypes.c_int64, [_P]),
        "kcc_cuda_set_step": (None, [_P, ctypes.c_int64]),
        "kcc_cuda_set_data_budget": (None, [_P, ctypes.c_int64]),
        "kcc_cuda_data_streamed": (ctypes.c_int, [_P, ctypes.c_int32]),
        "kcc_cuda_set_data": (ctypes.c_int, [_P, ctypes.c_int32, ctypes.POINTER(_P), ctypes.POINTER(_P),
                                             ctypes.c_int64]),
        "kcc_cuda_train_epoch": (ctypes.c_int, [_P, ctypes.c_int64, ctypes.c_int64, ctypes.c_int32,
                                                ctypes.c_uint64, _HOOK, _P, ctypes.c_int32, ctypes.c_double,
                                                _P, ctypes.POINTER(ctypes.c_int64),
                                                ctypes.POINTER(ctypes.c_int32)]),
        "kcc_cuda_test": (ctypes.c_int, [_P, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, _P]),
        "kcc_cuda_predict": (ctypes.c_int, [_P, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
                                            ctypes.POINTER(_P)]),
        "kcc_cuda_gradients": (ctypes.c_int, [_P, ctypes.c_int64, ctypes.c_uint64, _P, _P]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


def _ptrs(arrays) -> ctypes.Array:
    return (_P * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])


def _tensor_info(t: _TensorInfo) -> dict:
    return {"name": t.name.decode(), "dtype": "int32" if t.dtype == 1 else "float32",
            "shape": tuple(t.dims[i] for i in range(t.rank)), "size": t.size}


def data_budget() -> int:
    """KCC_CUDA_DATA_BYTES (bytes, or with a K/M/G suffix: powers of 1024): the most bytes
    of one call's data kept on the device, more streams in per batch. -1 when unset: the
    driver then keeps what fits in 3/4 of the free device memory."""
    env = os.environ.get("KCC_CUDA_DATA_BYTES", "").strip()
    if not env:
        return -1
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(env[-1].upper(), 1)
    digits = env[:-1] if scale > 1 else env
    if not digits.isdigit():
        raise ValueError(f"KCC_CUDA_DATA_BYTES must be a number of bytes, optionally with a K, M or G "
                         f"suffix (e.g. 512M); got {env!r}")
    return int(digits) * scale


# Data slots of the driver: what each call's arrays are uploaded into.
_FIT, _TEST, _PREDICT = 0, 1, 2


class CudaSession:
    """The CUDA twin of kcc._runtime.Session: the same methods, so the trainer drives
    either. Weight sync (DESIGN.md: "a device backend keeps a device copy and syncs it at
    the boundaries it documents"):
      - host -> device: at bind, and before any call when a weight was written on the
        host since this session last synced (set_weights, load_weights, another
        session's training: kcc.frontend.variable.host_generation());
      - device -> host: after every training call, so get_weights, save_weights and the
        CPU models sharing those layers see the trained values.
    Data is uploaded once per call and kept while the same arrays come back (the epochs
    of one fit call its train_epoch with the same arrays each time). Data larger than the
    device budget (KCC_CUDA_DATA_BYTES, else 3/4 of the free device memory) stays on the
    host and streams in batch by batch; this session keeps those arrays alive meanwhile.
    """

    def __init__(self, library: str, arch: str):
        self._lib = driver(arch)
        self._h = self._lib.kcc_cuda_open(str(library).encode())
        if not self._h:
            raise RuntimeError(f"kcc CUDA driver: {self._lib.kcc_cuda_last_error().decode()}")
        i = self._lib.kcc_cuda_info(self._h).contents
        self._raw = i
        self.info = {
            "model_name": i.model_name.decode(),
            "inputs": [_tensor_info(i.inputs[k]) for k in range(i.n_inputs)],
            "outputs": [_tensor_info(i.outputs[k]) for k in range(i.n_outputs)],
            "targets": [_tensor_info(i.targets[k]) for k in range(i.n_outputs)] if i.targets else [],
            "weights": [(i.weights[k].name.decode(), tuple(i.weights[k].dims[r] for r in range(i.weights[k].rank)))
                        for k in range(i.n_weights)],
            "stat_names": [i.stat_names[k].decode() for k in range(i.n_stats)],
            "arena_per_sample": i.arena_per_sample, "grads_size": i.grads_size,
            "opt_state_size": i.opt_state_size, "trainable": bool(i.trainable),
        }
        self._weights: list = []
        self._synced = -1
        self._data = {}

    def __del__(self):
        if getattr(self, "_h", None):
            self._lib.kcc_cuda_close(self._h)
            self._h = None

    def _check(self, rc: int):
        if rc != 0:
            raise RuntimeError(f"kcc CUDA driver: {self._lib.kcc_cuda_last_error().decode()}")

    # -- weights ------------------------------------------------------------------------
    def bind_weights(self, arrays):
        if len(arrays) != len(self.info["weights"]):
            raise ValueError("wrong number of weights")
        self._weights = list(arrays)
        self._push()

    def _push(self):
        from kcc.frontend.variable import host_generation
        self._check(self._lib.kcc_cuda_upload_weights(self._h, _ptrs(self._weights)))
        self._synced = host_generation()

    def _sync_in(self):
        from kcc.frontend.variable import host_generation
        if self._synced != host_generation():
            self._push()

    def _pull(self):
        from kcc.frontend.variable import bump_host_generation
        self._check(self._lib.kcc_cuda_download_weights(self._h, _ptrs(self._weights)))
        self._synced = bump_host_generation()   # other sessions over these layers re-upload

    # -- optimizer ------------------------------------------------------------------------
    def reset_optimizer(self):
        self._check(self._lib.kcc_cuda_reset_optimizer(self._h))

    def set_hparams(self, h):
        import numpy as np
        a = np.asarray(h, np.float32)
        self._check(self._lib.kcc_cuda_set_hparams(self._h, a.ctypes.data, len(a)))

    def set_threads(self, threads):   # the GPU's threads are not the user's cores
        pass

    @property
    def step(self):
        return self._lib.kcc_cuda_get_step(self._h)

    @step.setter
    def step(self, value):
        self._lib.kcc_cuda_set_step(self._h, int(value))

    def optimizer_state(self):
        import numpy as np
        out = np.empty(self.info["opt_state_size"], np.float32)
        self._check(self._lib.kcc_cuda_get_optimizer_state(self._h, out.ctypes.data))
        return out

    def set_optimizer_state(self, a):
        import numpy as np
        a = np.ascontiguousarray(a, np.float32)
        if a.size != self.info["opt_state_size"]:
            raise ValueError("optimizer state has the wrong size")
        self._check(self._lib.kcc_cuda_set_optimizer_state(self._h, a.ctypes.data))

    # -- data -------------------------------------------------------------------------------
    def _upload(self, slot, xs, ys, n):
        self._lib.kcc_cuda_set_data_budget(self._h, data_budget())
        key_arrays = list(xs) + list(ys or [])
        key = tuple((id(a), a.ctypes.data, a.shape) for a in key_arrays) + (n,)
        held = self._data.get(slot)
        if held is not None and held[0] == key:
            return
        import numpy as np
        xs = [np.ascontiguousarray(a[:n]) for a in xs]
        ys = [np.ascontiguousarray(a[:n]) for a in ys] if ys is not None else None
        self._check(self._lib.kcc_cuda_set_data(self._h, slot, _ptrs(xs), _ptrs(ys) if ys else None, n))
        self._data[slot] = (key, xs, ys, key_arrays)   # keep the keyed arrays alive (ids stay unique)

    def data_streamed(self, call: str) -> bool:
        """Whether the data of the last "fit", "evaluate" or "predict" call streamed in per
        batch (more than the budget) rather than sitting on the device."""
        return bool(self._lib.kcc_cuda_data_streamed(self._h, {"fit": _FIT, "evaluate": _TEST,
                                                               "predict": _PREDICT}[call]))

    def forget_data(self):
        """Drop the upload cache: the next call uploads its arrays again (a fit/evaluate/
        predict call starts; the user may have changed an array in place since)."""
        self._data.clear()

    # -- steps ---------------------------------------------------------------------------------
    def train_epoch(self, xs, ys, n, batch_size, shuffle, seed, hook, every_batch, interval_s):
        import numpy as np
        self._sync_in()
        self._upload(_FIT, xs, ys, n)
        n_stats = len(self.info["stat_names"])
        sums = np.zeros(n_stats, np.float64)
        seen, stopped = ctypes.c_int64(0), ctypes.c_int32(0)
        error = []

        def trampoline(ctx, begin, batch, seen_so_far, sums_ptr):
            try:
                if every_batch and not begin:
                    self._pull()     # the callbacks read the weights as this batch left them
                stop = hook(bool(begin), batch, seen_so_far, [sums_ptr[k] for k in range(n_stats)])
                self._sync_in()      # and a callback's set_weights reaches the next batch
                return int(bool(stop))
            except BaseException as e:   # re-raised below; never unwind through C
                error.append(e)
                return 1

        cb = _HOOK(trampoline) if hook is not None else _HOOK()
        rc = self._lib.kcc_cuda_train_epoch(self._h, n, batch_size, int(bool(shuffle)), seed & (2**64 - 1), cb,
                                            None, int(bool(every_batch)), float(interval_s), sums.ctypes.data,
                                            ctypes.byref(seen), ctypes.byref(stopped))
        self._pull()
        self._check(rc)
        if error:
            raise error[0]
        return list(sums), seen.value, bool(stopped.value)

    def test(self, xs, ys, n, batch_size):
        import numpy as np
        self._sync_in()
        self._upload(_TEST, xs, ys, n)
        sums = np.zeros(len(self.info["stat_names"]), np.float64)
        self._check(self._lib.kcc_cuda_test(self._h, _TEST, n, batch_size, sums.ctypes.data))
        return list(sums), n

    def predict(self, xs, outs, n, batch_size):
        self._sync_in()
        self._upload(_PREDICT, xs, None, n)
        self._check(self._lib.kcc_cuda_predict(self._h, _PREDICT, n, batch_size, _ptrs(outs)))

    def gradients(self, xs, ys, n, seed):
        import numpy as np
        self._sync_in()
        self._upload(_FIT, xs, ys, n)
        sums = np.zeros(len(self.info["stat_names"]), np.float64)
        grads = np.zeros(max(self.info["grads_size"], 1), np.float32)
        self._check(self._lib.kcc_cuda_gradients(self._h, n, seed & (2**64 - 1), sums.ctypes.data,
                                                 grads.ctypes.data))
        out = []
        for k in range(len(self.info["weights"])):
            w = self._raw.weights[k]
            out.append(None if w.grad_offset < 0 else grads[w.grad_offset:w.grad_offset + w.size].copy())
        return list(sums), out
