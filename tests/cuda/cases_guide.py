"""CUDA cases: the guide's models, as written, at the test sizes of tests/shared/guide_models.py
(the full sizes run in bench/ and examples/), each with targets, a loss and an optimizer.
Together with the per-family cases they cover every op family."""
import numpy as np

from guide_models import GUIDE_MODELS
from kcc import optimizers

# name -> (loss, optimizer or a function making one, metrics)
TRAINING = {
    "mlp": ("categorical_crossentropy", "rmsprop", ["accuracy"]),
    "headline": ("binary_crossentropy", "rmsprop", []),
    "shared_lstm": ("binary_crossentropy", "rmsprop", ["accuracy"]),
    "inception": ("mse", lambda: optimizers.SGD(learning_rate=0.05), []),
    "residual": ("mse", "adam", []),
    "shared_vision": ("binary_crossentropy", "rmsprop", ["binary_accuracy"]),
    "vqa": ("categorical_crossentropy", "rmsprop", []),
    "video_qa": ("categorical_crossentropy", "rmsprop", []),
}
assert set(TRAINING) == set(GUIDE_MODELS), "a guide model without CUDA training settings"


def _targets(model, loss, n, rng):
    """One target array per output: one-hot rows for categorical crossentropy, 0/1 for
    binary, normal values for regression."""
    ys = []
    for out in model.outputs:
        shape = (n,) + tuple(out.shape[1:])
        if loss == "categorical_crossentropy":
            ys.append(np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])])
        elif loss == "binary_crossentropy":
            ys.append((rng.random(shape) > 0.5).astype(np.float32))
        else:
            ys.append(rng.standard_normal(shape).astype(np.float32))
    return ys


def _case(name):
    def make(rng):
        model, x = GUIDE_MODELS[name]()
        xs = x if isinstance(x, list) else [x]
        loss, optimizer, metrics = TRAINING[name]
        return dict(model=model, x=xs, y=_targets(model, loss, len(xs[0]), rng), loss=loss,
                    optimizer=optimizer() if callable(optimizer) else optimizer, metrics=metrics)
    return make


CASES = {f"guide_{name}": _case(name) for name in GUIDE_MODELS}
