"""CUDA cases for the optimizers beyond SGD/RMSprop/Adam/Adagrad, weight decay and gradient
clipping (clipnorm and global_clipnorm: kcc::cuda::gradient_squares before the update): the
same small MLP (a constrained kernel among its weights, so one weight also goes through the
constraint launch) with each of them. The thresholds are under the gradients' norms."""
import numpy as np

from kcc import constraints, optimizers
from kcc.layers import Dense, Input
from kcc.models import Model


def _mlp(rng, optimizer):
    x = Input(shape=(6,))
    h = Dense(8, activation="tanh", kernel_constraint=constraints.MaxNorm(1.5))(x)
    h = Dense(5, activation="relu")(h)
    y = Dense(3, activation="softmax")(h)
    return dict(model=Model(x, y), x=[rng.standard_normal((7, 6)).astype(np.float32)],
                y=[np.eye(3, dtype=np.float32)[rng.integers(0, 3, 7)]],
                loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])


def optim_adamw_excluding_biases(rng):
    opt = optimizers.AdamW(learning_rate=0.01, weight_decay=0.3)
    opt.exclude_from_weight_decay(var_names=["bias"])    # per-weight decay flags
    return _mlp(rng, opt)


def optim_adamax(rng):
    return _mlp(rng, optimizers.Adamax(learning_rate=0.01))


def optim_nadam_decay(rng):
    return _mlp(rng, optimizers.Nadam(learning_rate=0.01, weight_decay=0.2))


def optim_adadelta(rng):
    return _mlp(rng, optimizers.Adadelta(learning_rate=1.0))


def optim_lion_decay(rng):
    return _mlp(rng, optimizers.Lion(learning_rate=0.01, weight_decay=0.5))


def optim_clipnorm(rng):
    return _mlp(rng, optimizers.Adam(learning_rate=0.01, clipnorm=0.05))


def optim_global_clipnorm_decay(rng):
    return _mlp(rng, optimizers.AdamW(learning_rate=0.01, weight_decay=0.3, global_clipnorm=0.1))


def optim_clipvalue(rng):
    return _mlp(rng, optimizers.SGD(learning_rate=0.1, momentum=0.9, clipvalue=0.01))


CASES = {f.__name__: f for f in (optim_adamw_excluding_biases, optim_adamax, optim_nadam_decay,
                                  optim_adadelta, optim_lion_decay, optim_clipnorm,
                                  optim_global_clipnorm_decay, optim_clipvalue)}
