"""W3: the guide's shared-LSTM tweets model (training only).

tweet_a, tweet_b: (140, 256) float32 -> one shared LSTM(64) -> concat (128,) -> Dense(1, sigmoid);
binary crossentropy, RMSprop.
"""
import numpy as np

import common
from common import Train, LEARNING_RATE, RHO, EPSILON

NAME = "W3"
STEPS, CHARS, UNITS = 140, 256, 64


TASKS = {"train_b32": Train(batch_size=32, n=1024)}
BUILD_TASKS = ()


def train_data(task):
    rng = np.random.default_rng(common.SEED)
    a = common.float_inputs((task.n, STEPS, CHARS), rng)
    b = common.float_inputs((task.n, STEPS, CHARS), rng)
    labels = rng.integers(0, 2, (task.n, 1)).astype(np.float32)
    return [a, b], [labels]


# ---------------------------------------------------------------- kcc

def build_kcc():
    from kcc.layers import Input, LSTM, Dense, concatenate
    from kcc.models import Model

    tweet_a = Input(shape=(STEPS, CHARS))
    tweet_b = Input(shape=(STEPS, CHARS))
    shared_lstm = LSTM(UNITS)
    merged = concatenate([shared_lstm(tweet_a), shared_lstm(tweet_b)])
    predictions = Dense(1, activation="sigmoid")(merged)
    return Model(inputs=[tweet_a, tweet_b], outputs=predictions)


def compile_kcc(model):
    from kcc.optimizers import RMSprop
    model.compile(optimizer=RMSprop(learning_rate=LEARNING_RATE), loss="binary_crossentropy")


# ---------------------------------------------------------------- torch

def build_torch():
    import torch
    from torch import nn

    class Tweets(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(CHARS, UNITS, batch_first=True)
            self.out = nn.Linear(2 * UNITS, 1)

        def forward(self, a, b):
            _, (ha, _) = self.lstm(a)
            _, (hb, _) = self.lstm(b)
            return self.out(torch.cat([ha[-1], hb[-1]], dim=1))

    model = Tweets()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=LEARNING_RATE, alpha=RHO, eps=EPSILON)
    return model, optimizer


def torch_arrays(xs):
    return xs


def torch_loss(model, xs, ys):
    import torch.nn.functional as F
    return F.binary_cross_entropy_with_logits(model(*xs), ys[0])
