"""The optimizers on device='cuda' (the GPU, or host-emulated where there is none) train as
Keras 3 does: several steps, so Nadam's u_product and every slot carry over on the device;
with weight decay and each kind of gradient clipping."""
import pytest

from gpu import cuda_device  # noqa: F401 (a fixture)
from keras_parity import assert_optimizer_trains_as_keras

CASES = [
    ("AdamW", dict(learning_rate=0.05, weight_decay=0.5), ["bias"]),
    ("Nadam", dict(learning_rate=0.01, weight_decay=0.2), None),
    ("Adamax", dict(learning_rate=0.01), None),
    ("Adadelta", dict(learning_rate=1.0, rho=0.8), None),
    ("Lion", dict(learning_rate=0.01, weight_decay=1.0), None),
    ("SGD", dict(learning_rate=0.1, momentum=0.9, weight_decay=0.3), None),
    ("Adam", dict(learning_rate=0.01, clipnorm=0.5), None),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.5, global_clipnorm=0.7), ["bias"]),
    ("Nadam", dict(learning_rate=0.01, clipvalue=0.3), None),
]


@pytest.mark.cuda
@pytest.mark.parametrize("name,kwargs,exclude", CASES,
                         ids=[c[0] + "-" + "-".join(c[1]) for c in CASES])
def test_cuda_training_is_keras(cuda_device, name, kwargs, exclude):
    assert_optimizer_trains_as_keras(name, kwargs, device="cuda", exclude=exclude)
