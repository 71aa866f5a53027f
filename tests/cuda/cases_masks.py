"""CUDA cases: Keras masks (Embedding(mask_zero=True), Masking) into every recurrent cell's
one-launch kernels (R in registers; GRU without reset_after in shared memory), the per-step
launches (an LSTM too large for the one-launch kernels), Bidirectional's zeroed sequences
and return_state through masked end steps, with the mask and masking ops, an average
over kept steps (GlobalAveragePooling1D); a per-timestep
loss and metrics weighed by the output's mask."""
import numpy as np

from kcc import optimizers
from kcc.layers import (GRU, LSTM, Bidirectional, Concatenate, Dense, Embedding,
                        GlobalAveragePooling1D, Input, Masking, SimpleRNN)
from kcc.models import Model


def _ids(rng, n, t, vocab):
    """Ids with padding 0 at the end, at the start, in the middle, and a row of only 0."""
    x = rng.integers(1, vocab, size=(n, t)).astype(np.int32)
    x[0, t - 2:] = 0
    x[1, :2] = 0
    x[2, 1] = 0
    x[3, :] = 0
    return x


def every_cell(rng):
    i = Input(shape=(6,), dtype="int32")
    e = Embedding(11, 4, mask_zero=True)(i)
    s = LSTM(5, return_sequences=True)(e)
    s = GRU(4, return_sequences=True, go_backwards=True)(s)
    s = GRU(4, reset_after=False, return_sequences=True)(s)
    h, state = SimpleRNN(3, go_backwards=True, return_state=True)(s)
    b = Bidirectional(GRU(3, return_sequences=True))(e)
    b = Bidirectional(LSTM(2, return_sequences=True), merge_mode="sum")(b)
    y = Dense(3, activation="softmax")(Concatenate()([h, state, LSTM(3)(b),
                                                      GlobalAveragePooling1D()(b)]))
    x = _ids(rng, 6, 6, 11)
    x[3, 2] = 1     # the average needs a kept step in each row (else 0 / 0, as Keras)
    return dict(model=Model(i, y), x=[x],
                y=[np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]],
                loss="categorical_crossentropy", optimizer=optimizers.Adam(learning_rate=0.01),
                metrics=["accuracy"])


def masking_per_step(rng):
    # LSTM(140): R fits neither registers nor shared memory, so the per-step launches run.
    # x's all-zero steps stay exactly zero through a Dense without bias, so Masking (y = x m,
    # and its backward into that Dense) masks them; return_state through masked end steps
    x = Input(shape=(5, 3))
    m = Masking()(Dense(3, use_bias=False)(x))
    s, h, c = LSTM(140, return_sequences=True, return_state=True)(m)
    y = Dense(2)(Concatenate()([SimpleRNN(4, go_backwards=True)(s), h, c]))
    xs = rng.standard_normal((5, 5, 3)).astype(np.float32)
    xs *= (_ids(rng, 5, 5, 9) != 0)[:, :, None]
    return dict(model=Model(x, y), x=[xs], y=[rng.standard_normal((5, 2)).astype(np.float32)],
                loss="mse", optimizer=optimizers.SGD(learning_rate=0.05), metrics=[])


def seq2seq_masked_loss(rng):
    # a per-timestep loss on an output that carries the mask: the batch's mean over kept
    # steps (one thread sums the mask first), metrics and weighted metrics over kept steps
    i = Input(shape=(5,), dtype="int32")
    s = GRU(4, return_sequences=True)(Embedding(9, 3, mask_zero=True)(i))
    y = Dense(3, activation="softmax")(s)
    return dict(model=Model(i, y), x=[_ids(rng, 6, 5, 9)],
                y=[rng.integers(0, 3, (6, 5)).astype(np.int32)],
                loss="sparse_categorical_crossentropy",
                optimizer=optimizers.SGD(learning_rate=0.1), metrics=["accuracy"],
                weighted_metrics=["accuracy"])


# "masks_" prefix: `pytest tests/cuda -k masks` selects these
CASES = {"masks_" + f.__name__: f for f in (every_cell, masking_per_step, seq2seq_masked_loss)}
