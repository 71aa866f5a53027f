"""CUDA cases: BatchNormalization (a block per channel, or per 32 channels when they are
the last axis, its statistics summed in a fixed order, the moving statistics written by the
training forward)."""
import numpy as np

from kcc import optimizers
from kcc.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, concatenate
from kcc.models import Model

CF = "channels_first"


def batch_norm(rng):
    """Training mode on a channels_first conv (axis=1: a channel's values strided by the
    image) and over the last axis of another (inner size 1), that one without beta; a frozen
    one (moving statistics) after a Dense. The weights compared after the step include the
    moving statistics the forward updated."""
    x = Input(shape=(2, 7, 7))
    a = BatchNormalization(axis=1, momentum=0.5)(Conv2D(3, 3, data_format=CF)(x))
    b = BatchNormalization(center=False, epsilon=0.01)(
        Conv2D(4, 2, strides=2, data_format=CF, activation="tanh")(x))
    frozen = BatchNormalization(moving_mean_initializer="random_normal", trainable=False)
    h = frozen(Dense(5, activation="relu")(concatenate([Flatten()(a), Flatten()(b)])))
    y = Dense(3, activation="softmax")(h)
    return dict(model=Model(x, y), x=[rng.standard_normal((6, 2, 7, 7)).astype(np.float32)],
                y=[np.eye(3, dtype=np.float32)[rng.integers(0, 3, 6)]],
                loss="categorical_crossentropy",
                optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9), metrics=["accuracy"])


CASES = {"batch_norm": batch_norm}
