"""Every CUDA case, run through the CUDA driver, predicts, computes gradients, trains one
step and evaluates like the CPU unit (1e-4 relative), from the same weights and the same
seed (dropout masks included). On a GPU where there is one, else host-emulated
(gpu.cuda_device) for the cases that cover the driver (DRIVER_CASES): then this checks the
driver's data, gather and step logic on top of what test_emulated.py checks of the units."""
import copy

import numpy as np
import pytest

import kcc
from cases import all_cases, assert_close as _close, make_case
from gpu import cuda_device, gpu_reason  # noqa: F401 (cuda_device: a fixture)

CASES = all_cases()
pytestmark = [pytest.mark.cuda]

# On a GPU, every case. Host-emulated, test_emulated.py already compares every case's unit
# with the C++ unit (the emulated kernels take seconds a case); what this test adds there is
# the driver: uploads, the batch gather, targets, seeds, evaluate's batches. These cases
# cover it: integer inputs and targets, several inputs and outputs, dropout, stacked shared
# layers, split-K, and the guide's models.
DRIVER_CASES = ("guide_", "embedding_", "shared_", "dropout_", "two_outputs_", "sparse_",
                "merge_elementwise_output", "long_reduction_", "concat_model_inputs",
                "recurrent_lstm_seq_backwards_time_distributed")
HERE = sorted(n for n in CASES if not gpu_reason() or n.startswith(DRIVER_CASES))


def _run(case, device, initial):
    model = case["model"]
    model.set_weights(initial)
    # a fresh optimizer each time: compiling again with the same object keeps its state (Keras)
    model.compile(optimizer=copy.deepcopy(case["optimizer"]), loss=case["loss"], metrics=case["metrics"],
                  device=device)
    pred = model.predict(case["x"], batch_size=len(case["x"][0]))
    preds = pred if isinstance(pred, list) else [pred]
    kcc.utils.set_random_seed(7)
    sums, grads = model._native.gradients(case["x"], model._y(case["y"]), seed=11)
    kcc.utils.set_random_seed(7)
    logs = model.train_on_batch(case["x"], case["y"])
    after = [w.copy() for w in model.get_weights()]
    ev = model.evaluate(case["x"], case["y"], batch_size=2, verbose=0)
    return preds, sums, grads, logs, after, ev


@pytest.mark.parametrize("name", HERE)
def test_cuda_matches_cpu(name, cuda_device):
    case = make_case(name, CASES[name])
    initial = [w.copy() for w in case["model"].get_weights()]
    cpu = _run(case, "cpu", initial)
    gpu = _run(case, "cuda", initial)
    for k, (a, b) in enumerate(zip(gpu[0], cpu[0])):
        _close(a, b, f"{name}: predict output {k}")
    _close(gpu[1], cpu[1], f"{name}: loss and metrics of the gradient pass")
    assert set(gpu[2]) == set(cpu[2])
    for w in cpu[2]:
        _close(gpu[2][w], cpu[2][w], f"{name}: gradient of {w}")
    _close(np.atleast_1d(gpu[3]), np.atleast_1d(cpu[3]), f"{name}: train_on_batch logs")
    for k, (a, b) in enumerate(zip(gpu[4], cpu[4])):
        _close(a, b, f"{name}: weight {k} after one step")
    _close(np.atleast_1d(gpu[5]), np.atleast_1d(cpu[5]), f"{name}: evaluate")
