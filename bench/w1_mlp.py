"""W1: the guide's first model, an MLP 784 -> 64 relu -> 64 relu -> 10 softmax.

One builder per framework, the data, and the task list. The peers in peers/ run
the tasks; they know nothing about this model beyond what is here.
"""

import common
from common import Train, Infer, LEARNING_RATE, RHO, EPSILON

NAME = "W1"
FEATURES = 784
CLASSES = 10


TASKS = {
    "train_b32": Train(batch_size=32, n=16384),
    "train_b256": Train(batch_size=256, n=16384),
    "infer_b1": Infer(batch_size=1, warmup=200, calls_per_repeat=400),
    "infer_b1024": Infer(batch_size=1024, warmup=10, calls_per_repeat=40, unit="samples/s"),
}

# kcc only: seconds for model.compile + first predict in a new process,
# with an empty cache dir (cold) and with the cache the cold run filled (cached).
BUILD_TASKS = ("build_cold_s", "build_cached_s")


def train_data(task):
    return common.classification_data(task.n, FEATURES, CLASSES)


def infer_data(task):
    x, _ = common.classification_data(task.batch_size, FEATURES, CLASSES)
    return x


# ---------------------------------------------------------------- kcc

def build_kcc():
    """The guide's model, written as in the guide (uncompiled)."""
    from kcc.layers import Input, Dense
    from kcc.models import Model

    inputs = Input(shape=(FEATURES,))
    x = Dense(64, activation="relu")(inputs)
    x = Dense(64, activation="relu")(x)
    predictions = Dense(CLASSES, activation="softmax")(x)
    return Model(inputs=inputs, outputs=predictions)


def compile_kcc(model):
    """RMSprop(lr=1e-3) with Keras' defaults, categorical crossentropy."""
    from kcc.optimizers import RMSprop
    model.compile(optimizer=RMSprop(learning_rate=LEARNING_RATE),
                  loss="categorical_crossentropy")


# ---------------------------------------------------------------- torch

def build_torch():
    """Same model in torch; the softmax is fused into the loss (logits out).

    Weights are initialised as Keras does (glorot uniform, zero bias) so both
    frameworks start from the same kind of model; timing does not depend on it.
    """
    import torch
    from torch import nn

    model = nn.Sequential(
        nn.Linear(FEATURES, 64), nn.ReLU(),
        nn.Linear(64, 64), nn.ReLU(),
        nn.Linear(64, CLASSES),
    )
    for m in model:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=LEARNING_RATE,
                                    alpha=RHO, eps=EPSILON)
    return model, optimizer


def torch_arrays(xs):
    """The inputs as torch takes them (all float32 here)."""
    return xs


def torch_loss(model, xs, ys):
    """Categorical crossentropy on softmax outputs == cross_entropy on logits."""
    import torch.nn.functional as F
    return F.cross_entropy(model(xs[0]), ys[0])
