"""W2: the guide's multi-input, multi-output headline model (training only).

main_input (100 ids in [0, 10000)) -> Embedding(10000, 512) -> LSTM(32) -> aux Dense(1, sigmoid);
concat(LSTM, aux_input (5,)) -> 3 x Dense(64, relu) -> main Dense(1, sigmoid);
binary crossentropy on both outputs (same labels), loss weights 1.0 / 0.2, RMSprop.
"""
import numpy as np

import common
from common import Train, LEARNING_RATE, RHO, EPSILON

NAME = "W2"
VOCAB, LENGTH, EMBED, UNITS, AUX = 10000, 100, 512, 32, 5


TASKS = {"train_b32": Train(batch_size=32, n=2048)}
BUILD_TASKS = ()


def train_data(task):
    rng = np.random.default_rng(common.SEED)
    ids = rng.integers(0, VOCAB, (task.n, LENGTH)).astype(np.int32)
    aux = common.float_inputs((task.n, AUX), rng)
    labels = rng.integers(0, 2, (task.n, 1)).astype(np.float32)
    return [ids, aux], [labels, labels]


# ---------------------------------------------------------------- kcc

def build_kcc():
    from kcc.layers import Input, Embedding, LSTM, Dense, concatenate
    from kcc.models import Model

    main_input = Input(shape=(LENGTH,), dtype="int32", name="main_input")
    x = Embedding(output_dim=EMBED, input_dim=VOCAB, input_length=LENGTH)(main_input)
    lstm_out = LSTM(UNITS)(x)
    aux_output = Dense(1, activation="sigmoid", name="aux_output")(lstm_out)
    aux_input = Input(shape=(AUX,), name="aux_input")
    x = concatenate([lstm_out, aux_input])
    for _ in range(3):
        x = Dense(64, activation="relu")(x)
    main_output = Dense(1, activation="sigmoid", name="main_output")(x)
    return Model(inputs=[main_input, aux_input], outputs=[main_output, aux_output])


def compile_kcc(model):
    from kcc.optimizers import RMSprop
    model.compile(optimizer=RMSprop(learning_rate=LEARNING_RATE), loss="binary_crossentropy",
                  loss_weights=[1.0, 0.2])


# ---------------------------------------------------------------- torch

def build_torch():
    import torch
    from torch import nn

    class Headline(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, UNITS, batch_first=True)
            self.aux = nn.Linear(UNITS, 1)
            self.mlp = nn.Sequential(nn.Linear(UNITS + AUX, 64), nn.ReLU(), nn.Linear(64, 64),
                                     nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
            self.main = nn.Linear(64, 1)

        def forward(self, ids, aux_input):
            _, (h, _) = self.lstm(self.embed(ids))
            h = h[-1]
            return self.main(self.mlp(torch.cat([h, aux_input], dim=1))), self.aux(h)

    model = Headline()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=LEARNING_RATE, alpha=RHO, eps=EPSILON)
    return model, optimizer


def torch_arrays(xs):
    return [xs[0].astype(np.int64), xs[1]]      # torch embeddings take int64 ids


def torch_loss(model, xs, ys):
    """Binary crossentropy on sigmoid outputs == BCE-with-logits on logits."""
    import torch.nn.functional as F
    main, aux = model(*xs)
    return (F.binary_cross_entropy_with_logits(main, ys[0])
            + 0.2 * F.binary_cross_entropy_with_logits(aux, ys[1]))
