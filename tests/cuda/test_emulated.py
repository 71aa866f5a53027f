"""Every CUDA case's generated unit, built for the host (-DKCC_CUDA_EMULATE: kernels become
loops, see kcc/cuda/runtime.cuh) and run by the CPU runtime, matches the C++ unit: predict,
loss and metrics, every weight gradient, one optimizer step, evaluate, with uneven sample
weights. No GPU needed, so CI
checks the CUDA templates' index math, strides, scratch sizes and accumulate-or-overwrite
decisions on every change. (Races and speed need the GPU: test_parity.py.)"""
import numpy as np
import pytest

from cases import all_cases, assert_close as _close, build_each
from kcc.runtime.native import runtime_module

CASES = all_cases()


@pytest.fixture(scope="module")
def built(compiled_cases):
    """name -> (case, CPU NativeModel, emulated library path or the exception)."""
    from kcc.runtime.cuda import emulated_unit
    libs = build_each(emulated_unit, {name: native for name, (_, native) in compiled_cases.items()})
    return {name: (*compiled_cases[name], libs[name]) for name in compiled_cases}


def _session(lib, weights, hparams, threads):
    s = runtime_module().Session(str(lib))
    s.bind_weights(weights)
    s.set_threads(threads)     # the CUDA unit's update reads one gradient buffer: 1 thread
    s.set_hparams(hparams)
    s.step = 0
    return s


def _run(session, case, n_out):
    xs = case["x"]
    n = len(xs[0])
    # the targets as fit passes them, the samples weighing 2 and 0.5 in turn (powers of two:
    # the weighted sums stay as exact as the unweighted ones, so Adam's first step, which
    # magnifies a near-zero gradient's rounding, sees no more of it than before)
    weights = case.get("sample_weight", np.where(np.arange(n) % 2, 0.5, 2.0).astype(np.float32))
    ys = case["model"]._y(case["y"], sample_weight=weights)
    outs = [np.empty((n,) + tuple(o["shape"]), np.float32) for o in session.info["outputs"][:n_out]]
    session.predict(xs, outs, n, n)
    sums, grads = session.gradients(xs, ys, n, 11)
    step_sums, _, _ = session.train_epoch(xs, ys, n, n, False, 5, None, False, 0.0)
    test_sums, _ = session.test(xs, ys, n, 2)
    return outs, sums, grads, step_sums, test_sums


@pytest.mark.parametrize("name", sorted(CASES))
def test_emulated_cuda_unit_matches_cpu(built, name):
    case, native, lib = built[name]
    if isinstance(lib, BaseException):
        raise lib
    model = case["model"]
    hparams = [float(v) for v in model.optimizer.hparams()]
    initial = [np.ascontiguousarray(w.buffer, np.float32).copy() for w in native.graph.weights]
    cpu_w = [w.copy() for w in initial]
    emu_w = [w.copy() for w in initial]
    n_out = len(native.info["outputs"])
    cpu = _run(_session(native.library, cpu_w, hparams, 1), case, n_out)
    emu = _run(_session(lib, emu_w, hparams, 1), case, n_out)
    for k, (a, b) in enumerate(zip(emu[0], cpu[0])):
        _close(a, b, f"{name}: predict output {k}")
    _close(emu[1], cpu[1], f"{name}: loss and metrics of the gradient pass")
    for w, a, b in zip(native.graph.weights, emu[2], cpu[2]):
        assert (a is None) == (b is None), w.name
        if b is not None:
            _close(a, b, f"{name}: gradient of {w.name}")
    _close(emu[3], cpu[3], f"{name}: train step loss")
    for w, a, b in zip(native.graph.weights, emu_w, cpu_w):
        _close(a, b, f"{name}: {w.name} after one step")
    _close(emu[4], cpu[4], f"{name}: evaluate")


def test_embedding_gradient_is_the_cpus_bit_for_bit_every_call():
    """Repeated ids add up in position order, as the C++ unit's scatter_add (no atomics): the
    single-threaded CPU's bits in every call, whichever order a launch runs its threads in
    (the emulation alternates it from launch to launch; a predict call shifts the parity)."""
    import kcc
    from kcc.layers import Embedding, Flatten, Input
    from kcc.models import Model
    from kcc.runtime.cuda import emulated_unit
    kcc.utils.set_random_seed(3)
    ids = Input((6,), dtype="int32")
    model = Model(ids, Flatten()(Embedding(3, 4, name="emb_bits")(ids)))   # dy: the loss's, exact
    model.compile("sgd", "mse")
    native = model._native
    hparams = [float(v) for v in model.optimizer.hparams()]
    rng = np.random.default_rng(0)
    x = [rng.integers(0, 3, (7, 6)).astype(np.int32)]      # 42 ids over 3 rows
    y = model._y([rng.standard_normal((7, 24)).astype(np.float32)])   # as fit packs them
    w = [np.ascontiguousarray(wt.buffer, np.float32).copy() for wt in native.graph.weights]
    cpu = _session(native.library, [a.copy() for a in w], hparams, 1).gradients(x, y, 7, 0)[1][0]
    emu = _session(emulated_unit(native), w, hparams, 1)
    outs = [np.empty((7, 24), np.float32)]
    for _ in range(2):
        for _ in range(2):
            np.testing.assert_array_equal(emu.gradients(x, y, 7, 0)[1][0], cpu)
        emu.predict(x, outs, 7, 7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_case_renders_with_canonical_names(compiled_cases, name):
    """kcc/codegen/canonical.py maps every name of every case one to one (else the unit keeps
    the Keras names and a rebuilt model misses the build cache)."""
    from kcc.codegen.canonical import canonical
    _, native = compiled_cases[name]
    assert canonical(native.graph).name == "model"
    assert "Generated by kcc for model 'model'" in native.source
