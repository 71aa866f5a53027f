"""CUDA cases: LSTM, GRU (reset_after and not), SimpleRNN; last state or whole sequence,
go_backwards, stacks, frozen and bias-free layers, sequences one step long, TimeDistributed
Dense after a sequence, two RNNs written side by side into one concatenation (and a
Bidirectional LSTM beside them: its backward sequence written flipped),
return_state / initial_state (encoder-decoder), RepeatVector / Permute after an LSTM, and
dropout with shared masks (LSTM dropout=, SpatialDropout1D, Dropout noise_shape)."""
import numpy as np

from kcc import optimizers
from kcc.layers import (GRU, LSTM, Bidirectional, Concatenate, Dense, Dropout, Flatten, Input,
                        Permute, RepeatVector, Reshape, SimpleRNN, SpatialDropout1D,
                        TimeDistributed)
from kcc.models import Model


def _onehot(rng, n, k):
    return np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]


def _seq(rng, n, t, d):
    return rng.standard_normal((n, t, d)).astype(np.float32)


def lstm_last_softmax(rng):
    # the last state repeated (RepeatVector: a concat reading it twice) and permuted on 3
    # axes (Permute's general transpose) before the softmax
    x = Input(shape=(5, 3))
    h = LSTM(8)(x)
    h = Permute((3, 2, 1))(Reshape((2, 2, 4))(RepeatVector(2)(h)))
    y = Dense(4, activation="softmax")(Flatten()(h))
    return dict(model=Model(x, y), x=[_seq(rng, 6, 5, 3)], y=[_onehot(rng, 6, 4)],
                loss="categorical_crossentropy", optimizer=optimizers.Adam(learning_rate=0.01),
                metrics=["accuracy"])


def lstm_seq_backwards_time_distributed(rng):
    # Dense before the LSTM: the LSTM's dx is needed; TimeDistributed Dense after it
    x = Input(shape=(4, 5))
    h = TimeDistributed(Dense(6, activation="tanh"))(x)
    h = LSTM(7, return_sequences=True, go_backwards=True, recurrent_activation="hard_sigmoid")(h)
    y = TimeDistributed(Dense(2))(h)
    return dict(model=Model(x, y), x=[_seq(rng, 5, 4, 5)],
                y=[rng.standard_normal((5, 4, 2)).astype(np.float32)], loss="mse",
                optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9), metrics=["mae"])


def gru_stacked_reset_after(rng):
    x = Input(shape=(6, 4))
    h = GRU(7, return_sequences=True)(x)
    h = GRU(5, go_backwards=True)(h)
    y = Dense(3)(h)
    return dict(model=Model(x, y), x=[_seq(rng, 4, 6, 4)],
                y=[rng.standard_normal((4, 3)).astype(np.float32)], loss="mse",
                optimizer=optimizers.RMSprop(learning_rate=0.01), metrics=[])


def gru_reset_before_seq_backwards(rng):
    x = Input(shape=(5, 3))
    h = GRU(6, reset_after=False, return_sequences=True, go_backwards=True)(x)
    h = GRU(4, reset_after=False)(h)
    y = Dense(1, activation="sigmoid")(h)
    return dict(model=Model(x, y), x=[_seq(rng, 7, 5, 3)],
                y=[(rng.random((7, 1)) > 0.5).astype(np.float32)], loss="binary_crossentropy",
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=["binary_accuracy"])


def gru_no_bias_frozen(rng):
    # use_bias=False (b, b_rec null); the first layer frozen (no dW / dR / db, only dx)
    x = Input(shape=(4, 3))
    first = GRU(5, use_bias=False, return_sequences=True, recurrent_activation="hard_sigmoid")
    h = first(x)
    h = GRU(4, reset_after=False, use_bias=False, return_sequences=True)(h)
    h = LSTM(3)(h)
    first.trainable = False
    y = Dense(2)(h)
    return dict(model=Model(x, y), x=[_seq(rng, 3, 4, 3)],
                y=[rng.standard_normal((3, 2)).astype(np.float32)], loss="mse",
                optimizer=optimizers.SGD(learning_rate=0.1), metrics=[])


def simple_rnn_stacked(rng):
    x = Input(shape=(6, 4))
    h = SimpleRNN(8, activation="relu", return_sequences=True)(x)
    h = SimpleRNN(5, go_backwards=True, use_bias=False, return_sequences=True)(h)
    h = SimpleRNN(4)(h)
    y = Dense(3, activation="softmax")(h)
    return dict(model=Model(x, y), x=[_seq(rng, 5, 6, 4)], y=[_onehot(rng, 5, 3)],
                loss="categorical_crossentropy", optimizer=optimizers.Adagrad(learning_rate=0.05),
                metrics=["accuracy"])


def one_step_sequences(rng):
    # T = 1: the first step is also the last (zeroing and output in one kernel)
    x = Input(shape=(1, 4))
    a = GRU(3, reset_after=False, return_sequences=True)(x)
    b = LSTM(3, go_backwards=True)(a)
    c = SimpleRNN(3)(GRU(3, return_sequences=True)(x))
    y = Dense(2)(Concatenate()([b, c]))
    return dict(model=Model(x, y), x=[_seq(rng, 4, 1, 4)],
                y=[rng.standard_normal((4, 2)).astype(np.float32)], loss="mse",
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=[])


def rnns_into_concat(rng):
    # two RNNs on one Dense output (its dy accumulates), each writing a slice of a concat
    # (y rows wider than the layer's own output), sequences and last states; a Bidirectional
    # LSTM reads it too, its backward layer writing its sequence flipped (flip_output)
    x = Input(shape=(5, 3))
    e = TimeDistributed(Dense(4))(x)
    f = LSTM(5, return_sequences=True)(e)
    b = GRU(3, return_sequences=True, go_backwards=True)(e)
    bi = Bidirectional(LSTM(2, return_sequences=True), merge_mode="mul")(e)
    h = Concatenate()([f, b, bi])
    s = SimpleRNN(4)(h)
    g = GRU(2, reset_after=False)(h)
    y = Dense(3, activation="softmax")(Concatenate()([s, g]))
    return dict(model=Model(x, y), x=[_seq(rng, 6, 5, 3)], y=[_onehot(rng, 6, 3)],
                loss="categorical_crossentropy",
                optimizer=optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
                metrics=["accuracy"])


def lstm_block_kernel_and_fallback(rng):
    # LSTM(128): the one-launch kernels with R split, 88 rows in each thread's registers (a
    # block of 512 threads) and 40 in shared memory; LSTM(140): R (313 KB) fits neither
    # way, so the per-step launches run
    x = Input(shape=(4, 5))
    h = LSTM(128, return_sequences=True)(x)
    h = LSTM(140, go_backwards=True)(h)
    y = Dense(2)(h)
    return dict(model=Model(x, y), x=[_seq(rng, 7, 4, 5)],
                y=[rng.standard_normal((7, 2)).astype(np.float32)], loss="mse",
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=[])


def gru_and_simple_rnn_split_registers(rng):
    # R split between registers and shared memory: GRU(136), 88 rows and 48 (408 threads);
    # SimpleRNN(256), 212 and 44 (256 threads of 254 registers)
    x = Input(shape=(3, 4))
    g = GRU(136, go_backwards=True)(x)
    r = SimpleRNN(256, return_sequences=True)(x)
    r = SimpleRNN(4)(r)
    y = Dense(2)(Concatenate()([g, r]))
    return dict(model=Model(x, y), x=[_seq(rng, 5, 3, 4)],
                y=[rng.standard_normal((5, 2)).astype(np.float32)], loss="mse",
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=[])


def encoder_decoder_states(rng):
    # return_state and initial_state, every cell, every state with a gradient both ways: an
    # LSTM encoder's h and c start an LSTM decoder; a GRU starts from a Dense of an Input and
    # its final state (backwards, sequences) starts both a reset-before GRU (whose output and
    # final state are read) and a SimpleRNN (its dh0 adds to the GRU's), whose final state
    # joins the output and whose sequence is a model output. Penalties and constraints: the
    # encoder's activity_regularizer on its output and both states (between them and the
    # decoder), an L2 kernel and a unit-norm recurrent kernel; the GRU's L1 recurrent kernel
    # and non-negative bias (2, 12)
    x, d, s0 = Input(shape=(5, 3)), Input(shape=(4, 2)), Input(shape=(4,))
    o, h, c = LSTM(6, return_state=True, kernel_regularizer="l2", recurrent_constraint="unit_norm",
                   activity_regularizer="l1_l2")(x)
    dec = LSTM(6, return_sequences=True, recurrent_activation="hard_sigmoid")(d, initial_state=[h, c])
    g, gh = GRU(4, return_sequences=True, return_state=True, go_backwards=True,
                recurrent_regularizer="l1", bias_constraint="non_neg")(
        dec, initial_state=Dense(4, activation="tanh")(s0))
    g2, g2h = GRU(4, reset_after=False, go_backwards=True, return_state=True)(g, initial_state=gh)
    r, rh = SimpleRNN(4, return_state=True, return_sequences=True)(g, initial_state=gh)
    y = Dense(3, activation="softmax")(Concatenate()([o, g2, g2h, rh]))
    return dict(model=Model([x, d, s0], [y, r]),
                x=[_seq(rng, 5, 5, 3), _seq(rng, 5, 4, 2), rng.standard_normal((5, 4)).astype(np.float32)],
                y=[_onehot(rng, 5, 3), _seq(rng, 5, 4, 4)], loss=["categorical_crossentropy", "mse"],
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=[])


def dropout_shared_masks(rng):
    # masks shared along broadcast axes: an LSTM's input dropout (one mask for all steps),
    # SpatialDropout1D (whole channels), a noise_shape shared by every sample and step
    x = Input(shape=(5, 6))
    h = SpatialDropout1D(0.4)(Dense(6, activation="tanh")(x))
    h = LSTM(4, dropout=0.3, return_sequences=True)(h)
    h = Dropout(0.5, noise_shape=(1, 1, None))(h)
    y = Dense(3, activation="softmax")(Flatten()(h))
    return dict(model=Model(x, y), x=[_seq(rng, 8, 5, 6)], y=[_onehot(rng, 8, 3)],
                loss="categorical_crossentropy", optimizer=optimizers.SGD(learning_rate=0.1),
                metrics=[])


# "recurrent_" prefix: `pytest tests/cuda -k recurrent` selects these
CASES = {"recurrent_" + f.__name__: f for f in (lstm_last_softmax, lstm_seq_backwards_time_distributed,
                                  lstm_block_kernel_and_fallback, gru_and_simple_rnn_split_registers,
                                  gru_stacked_reset_after, gru_reset_before_seq_backwards,
                                  gru_no_bias_frozen, simple_rnn_stacked, one_step_sequences,
                                  rnns_into_concat, encoder_decoder_states,
                                  dropout_shared_masks)}
