"""W4: the guide's shared vision model on two MNIST-like digits (training only).

vision: Input((1, 27, 27)) channels_first -> Conv2D(64, 3x3) -> Conv2D(64, 3x3) (no activation)
        -> MaxPooling2D(2) -> Flatten (7744,); one vision Model called on both digits;
concat (15488,) -> Dense(1, sigmoid); binary crossentropy, RMSprop.
"""
import numpy as np

import common
from common import Train, LEARNING_RATE, RHO, EPSILON

NAME = "W4"
SHAPE = (1, 27, 27)
FILTERS = 64


TASKS = {"train_b32": Train(batch_size=32, n=1024)}
BUILD_TASKS = ()


def train_data(task):
    rng = np.random.default_rng(common.SEED)
    a = common.float_inputs((task.n,) + SHAPE, rng)
    b = common.float_inputs((task.n,) + SHAPE, rng)
    labels = rng.integers(0, 2, (task.n, 1)).astype(np.float32)
    return [a, b], [labels]


# ---------------------------------------------------------------- kcc

def build_kcc():
    """As in the guide: Keras 1 Convolution2D on a channels_first (1, 27, 27) input."""
    from kcc.layers import Input, Convolution2D, MaxPooling2D, Flatten, Dense, concatenate
    from kcc.models import Model

    digit_input = Input(shape=SHAPE)
    x = Convolution2D(FILTERS, 3, 3)(digit_input)
    x = Convolution2D(FILTERS, 3, 3)(x)
    x = MaxPooling2D((2, 2))(x)
    out = Flatten()(x)
    vision_model = Model(digit_input, out)

    digit_a = Input(shape=SHAPE)
    digit_b = Input(shape=SHAPE)
    concatenated = concatenate([vision_model(digit_a), vision_model(digit_b)])
    out = Dense(1, activation="sigmoid")(concatenated)
    return Model([digit_a, digit_b], out)


def compile_kcc(model):
    from kcc.optimizers import RMSprop
    model.compile(optimizer=RMSprop(learning_rate=LEARNING_RATE), loss="binary_crossentropy")


# ---------------------------------------------------------------- torch

def build_torch(channels_last=False):
    import torch
    from torch import nn

    class Digits(nn.Module):
        def __init__(self):
            super().__init__()
            self.vision = nn.Sequential(
                nn.Conv2d(SHAPE[0], FILTERS, 3), nn.Conv2d(FILTERS, FILTERS, 3),
                nn.MaxPool2d(2), nn.Flatten())
            self.out = nn.Linear(2 * FILTERS * 11 * 11, 1)

        def forward(self, a, b):
            return self.out(torch.cat([self.vision(a), self.vision(b)], dim=1))

    model = Digits()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=LEARNING_RATE, alpha=RHO, eps=EPSILON)
    return model, optimizer


def torch_arrays(xs):
    return xs


def torch_loss(model, xs, ys):
    import torch.nn.functional as F
    return F.binary_cross_entropy_with_logits(model(*xs), ys[0])
