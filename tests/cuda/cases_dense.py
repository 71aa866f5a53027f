"""CUDA cases: Dense with every activation, Activation layers, Dropout, GaussianNoise and
GaussianDropout, LayerNormalization, each optimizer."""
import numpy as np

from kcc import constraints, initializers, losses, optimizers, regularizers
from kcc.layers import (GRU, Activation, Conv2D, Dense, Dropout, Flatten, Input, LayerNormalization,
                        Reshape, concatenate)
from kcc.layers import GaussianDropout, GaussianNoise
from kcc.models import Model


def _onehot(rng, n, k):
    return np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]


def mlp_softmax(rng):
    """Also the weight regularizers and constraints (kcc/templates/weights): a penalty and
    its gradient, then each constraint after the fused update; and activity regularizers
    (layers/activity_regularizer), the output's keeping the softmax apart from the loss."""
    x = Input(shape=(20,))
    h = Dense(32, activation="relu", kernel_regularizer=regularizers.L1L2(0.01, 0.02),
              kernel_constraint=constraints.MaxNorm(0.9), bias_constraint="non_neg")(x)
    h = Dense(16, activation="tanh", bias_regularizer="l2",
              kernel_constraint=constraints.UnitNorm(axis=1),
              activity_regularizer=regularizers.L1L2(0.01, 0.02))(h)
    y = Dense(5, activation="softmax", kernel_regularizer=regularizers.L1(0.05),
              kernel_constraint=constraints.MinMaxNorm(0.5, 0.8, rate=0.5),
              activity_regularizer="l2")(h)
    return dict(model=Model(x, y), x=[rng.standard_normal((7, 20)).astype(np.float32)],
                y=[_onehot(rng, 7, 5)], loss="categorical_crossentropy",
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=["accuracy"])


def activations_unfused(rng):
    x = Input(shape=(12,))
    h = Dense(24)(x)
    for act in ("sigmoid", "hard_sigmoid", "softplus", "elu", "relu", "tanh"):
        h = Activation(act)(h)
    h = Dense(6)(h)
    y = Activation("softmax")(h)
    return dict(model=Model(x, y), x=[rng.standard_normal((9, 12)).astype(np.float32)],
                y=[_onehot(rng, 9, 6)], loss="categorical_crossentropy",
                optimizer=optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True), metrics=[])


def activations_keras3(rng):
    """The element-wise activations beyond the first eight: in Dense epilogues, as
    Activation layers, and in a recurrent cell. Those whose derivative needs the input
    (gelu, silu, ...): a Dense keeping its pre-activation, an Activation reading its input,
    a Conv2D split into a linear conv and an Activation (kcc/passes/fusion.py), and a shared
    Dense whose two calls stack on the GPU (one kept pre-activation for both). The row
    activation log_softmax: a Dense writing its rows into a slice of the concatenation, an
    Activation on another branch, a Conv2D over its channels."""
    x = Input(shape=(12,))
    names = ("celu", "relu6", "selu", "softsign", "exponential", "leaky_relu", "hard_tanh",
             "log_sigmoid", "sparse_plus", "squareplus", "sparse_sigmoid", "soft_shrink",
             "hard_shrink", "gelu", "gelu_approximate", "silu", "mish", "hard_silu",
             "tanh_shrink")
    branches = [Activation(act)(Dense(4, activation=act)(x)) for act in names]
    shared = Dense(4, activation="silu")
    branches += [shared(branches[0]), shared(branches[1])]
    branches += [Dense(4, activation="log_softmax")(x), Activation("log_softmax")(branches[3])]
    h = Reshape((23, 4, 1))(concatenate(branches))
    h = Conv2D(3, (2, 1), activation="log_softmax")(Conv2D(2, (3, 4), activation="mish")(h))
    h = Reshape((20, 3))(h)
    h = GRU(6, activation="selu", recurrent_activation="sparse_sigmoid")(h)
    y = Dense(5, activation="softmax")(h)
    return dict(model=Model(x, y), x=[rng.standard_normal((9, 12)).astype(np.float32)],
                y=[_onehot(rng, 9, 5)], loss="categorical_crossentropy",
                optimizer=optimizers.SGD(learning_rate=0.05), metrics=[])


def dropout_sigmoid_bce(rng):
    x = Input(shape=(10,))
    h = Dense(40, activation="relu")(x)
    h = Dropout(0.3)(h)
    y = Dense(3, activation="sigmoid")(h)
    return dict(model=Model(x, y), x=[rng.standard_normal((8, 10)).astype(np.float32)],
                y=[(rng.random((8, 3)) > 0.5).astype(np.float32)], loss="binary_crossentropy",
                optimizer=optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
                metrics=["binary_accuracy"])


def gaussian_noise(rng):
    """GaussianNoise on the input and after a Dense, GaussianDropout between Dense layers:
    kcc/ops/noise.h's normal samples, recomputed in backward (GaussianDropout's factor)."""
    x = Input(shape=(10,))
    h = Dense(16, activation="tanh")(GaussianNoise(0.2)(x))
    h = GaussianNoise(0.1)(Dense(8, activation="relu")(GaussianDropout(0.3)(h)))
    y = Dense(3, activation="softmax")(h)
    return dict(model=Model(x, y), x=[rng.standard_normal((6, 10)).astype(np.float32)],
                y=[_onehot(rng, 6, 3)], loss="categorical_crossentropy",
                optimizer=optimizers.SGD(learning_rate=0.05), metrics=["accuracy"])


def two_outputs_mse_mae(rng):
    x = Input(shape=(6,))
    h = Dense(8, activation="elu")(x)
    a = Dense(2, name="out_a")(h)
    b = Dense(3, activation="softplus", name="out_b")(h)
    return dict(model=Model(x, [a, b]), x=[rng.standard_normal((5, 6)).astype(np.float32)],
                y=[rng.standard_normal((5, 2)).astype(np.float32),
                   rng.random((5, 3)).astype(np.float32)],
                loss=["mse", "mae"], optimizer=optimizers.Adagrad(learning_rate=0.05),
                metrics=["mae"])


def sparse_ce_amsgrad(rng):
    """Also the from_logits=True crossentropies (kcc/ops/losses.h *_from_logits) on linear
    Dense heads: sparse, categorical (a Dense that writes d_logits in place of its own
    gradient) and binary, logits scaled up so the log-sum-exp's max matters; the categorical
    and binary ones with label_smoothing (the row functions' ls argument)."""
    x = Input(shape=(16,))
    h = Dense(16, activation="relu")(x)
    y = Dense(7, activation="softmax")(h)
    big = Dense(7, kernel_initializer=initializers.RandomNormal(stddev=3.0))(h)
    heads = [big, Dense(4)(h), Dense(3)(h)]
    n = 6
    return dict(model=Model(x, [y] + heads), x=[rng.standard_normal((n, 16)).astype(np.float32)],
                y=[rng.integers(0, 7, (n,)).astype(np.int32), rng.integers(0, 7, (n,)).astype(np.int32),
                   _onehot(rng, n, 4), (rng.random((n, 3)) > 0.5).astype(np.float32)],
                loss=["sparse_categorical_crossentropy",
                      losses.SparseCategoricalCrossentropy(from_logits=True),
                      losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
                      losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2)],
                optimizer=optimizers.Adam(learning_rate=0.01, amsgrad=True),
                metrics=[["sparse_categorical_accuracy"], ["accuracy"], ["accuracy"], ["accuracy"]])


def long_reduction_split_k(rng):
    # 5 rows through 2500 inputs: the forward GEMM splits its reduction (kcc::cuda::gemm_split,
    # 9 slices), softmax after it and sigmoid fused into the sum's store
    x = Input(shape=(2500,))
    a = Dense(3, activation="softmax", name="probs")(x)
    b = Dense(1, activation="sigmoid", name="flag")(x)
    return dict(model=Model(x, [a, b]), x=[rng.standard_normal((5, 2500)).astype(np.float32)],
                y=[_onehot(rng, 5, 3), (rng.random((5, 1)) > 0.5).astype(np.float32)],
                loss=["categorical_crossentropy", "binary_crossentropy"],
                optimizer=optimizers.RMSprop(learning_rate=0.001), metrics=[])


def layer_norm(rng):
    """LayerNormalization (layers/layer_norm): over the last axis, shared by two calls (its
    gamma and beta gradients add up), over two trailing axes of 40 values (two blocks of
    kcc::cuda::column_sum) with rms_scaling, on a flat input without gamma, and on rows of
    300 (kcc::cuda::row_threads' 128 threads a row, most taking two or three columns)."""
    x = Input(shape=(5, 8))
    shared = LayerNormalization(gamma_regularizer="l2")
    a, b = shared(Dense(8)(x)), shared(Dense(8, activation="tanh")(x))
    c = LayerNormalization(axis=[-2, -1], rms_scaling=True, epsilon=0.1)(a)
    d = LayerNormalization(scale=False)(Flatten()(b))
    e = LayerNormalization()(Dense(300)(Flatten()(x)))   # 128 threads a row, 2 or 3 floats each
    y = Dense(3, activation="softmax")(concatenate([Flatten()(c), d, e]))
    return dict(model=Model(x, y), x=[rng.standard_normal((6, 5, 8)).astype(np.float32)],
                y=[_onehot(rng, 6, 3)], loss="categorical_crossentropy",
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=["accuracy"])


CASES = {f.__name__: f for f in (long_reduction_split_k, mlp_softmax, activations_unfused,
                                  activations_keras3, dropout_sigmoid_bce, gaussian_noise,
                                  two_outputs_mse_mae, sparse_ce_amsgrad, layer_norm)}
