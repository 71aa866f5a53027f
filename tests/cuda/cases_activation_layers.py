"""CUDA case: Keras 3's activation layers. ReLU, LeakyReLU and ELU with arguments (their
constants in the activation op's attrs: kcc/ops/activations.h's ReluWith, LeakyReluWith,
EluWith), Softmax and Identity, and PReLU with alpha per element, per channel (the shared
axes leading) and shared along a middle and the end axes (index arithmetic from both sides);
alpha's gradient summed a thread per alpha element; and the preprocessing layers."""
import numpy as np

from kcc import optimizers
from kcc.layers import (ELU, Dense, Flatten, Identity, Input, LeakyReLU, PReLU, ReLU, Softmax,
                        concatenate)
from kcc.models import Model


def activation_layers(rng):
    x = Input(shape=(3, 4, 5))
    h = Dense(5, activation="tanh")(x)
    branches = [ReLU(max_value=0.5, negative_slope=0.1, threshold=0.05)(h),
                LeakyReLU(0.2)(h), ELU(alpha=0.5)(h), Softmax()(h), Identity()(h),
                PReLU(alpha_initializer="random_uniform")(h),
                PReLU(alpha_initializer="random_uniform", shared_axes=[1, 2])(h),
                PReLU(alpha_initializer="random_uniform", shared_axes=2)(h),
                PReLU(alpha_initializer="random_uniform", shared_axes=[1, 3])(h)]
    y = Dense(3, activation="softmax")(concatenate([Flatten()(b) for b in branches]))
    return dict(model=Model(x, y), x=[rng.standard_normal((6, 3, 4, 5)).astype(np.float32)],
                y=[np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]],
                loss="categorical_crossentropy",
                optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9), metrics=["accuracy"])


CASES = {"activation_layers": activation_layers}


def preprocessing_layers(rng):
    """Normalization adapted per last-axis element, over everything (axis=None) and per
    middle-axis element inverted (constants indexed from both sides); Rescaling;
    ActivityRegularization; UnitNormalization and RMSNormalization (scale's gradient through
    the per-row scratch) over the last axis and over two (rows of 20), each after a Dense so
    their input gradients are used."""
    from kcc.layers import (ActivityRegularization, Normalization, Rescaling, RMSNormalization,
                            UnitNormalization)
    adapt = rng.normal(1.0, 2.0, (10, 3, 4, 5)).astype(np.float32)
    norms = [Normalization(), Normalization(axis=None), Normalization(axis=2, invert=True)]
    for layer in norms:
        layer.adapt(adapt)
    x = Input(shape=(3, 4, 5))
    h = Dense(5, activation="tanh")(x)
    branches = [norms[0](x), norms[1](h), norms[2](h), Rescaling(0.5, offset=-1.0)(h),
                ActivityRegularization(l1=0.01, l2=0.01)(h), UnitNormalization()(h),
                UnitNormalization(axis=[-2, -1])(h), RMSNormalization()(h),
                RMSNormalization(axis=[-2, -1], epsilon=0.1)(h)]
    y = Dense(3, activation="softmax")(concatenate([Flatten()(b) for b in branches]))
    return dict(model=Model(x, y), x=[rng.normal(1.0, 2.0, (6, 3, 4, 5)).astype(np.float32)],
                y=[np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]],
                loss="categorical_crossentropy",
                optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9), metrics=["accuracy"])


CASES["preprocessing_layers"] = preprocessing_layers
