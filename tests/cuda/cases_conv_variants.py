"""CUDA cases for the conv2d_transpose and grouped_conv2d ops, both data formats.

Conv2DTranspose and Conv1DTranspose: strides with and without output_padding, 'same' crops
at the front, dilation, no bias, a gelu (split into its own activation op for training), an
input whose gradient flows on (a transposed conv after a conv), a 1-D one on a one-row image.
DepthwiseConv2D, SeparableConv2D's depthwise half, Conv2D and Conv1D `groups`: depth
multipliers, strides, 'same' and dilation, groups of one and of several channels."""
import numpy as np

from kcc import optimizers
from kcc.layers import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Dense,
                        DepthwiseConv2D, Flatten, Input, Reshape, SeparableConv2D, concatenate)
from kcc.models import Model

CF, CL = "channels_first", "channels_last"


def _classify(rng, x, h, shape, n=4, k=3, opt=None):
    y = Dense(k, activation="softmax")(h)
    return dict(model=Model(x, y), x=[rng.standard_normal((n,) + shape).astype(np.float32)],
                y=[np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]],
                loss="categorical_crossentropy",
                optimizer=opt or optimizers.SGD(learning_rate=0.05, momentum=0.9),
                metrics=["accuracy"])


def conv_transpose_cl(rng):
    x = Input(shape=(5, 6, 2))
    h = Conv2D(3, 2, activation="relu", data_format=CL)(x)                      # (4, 5, 3)
    h = Conv2DTranspose(4, 3, strides=2, padding="same", activation="tanh", data_format=CL)(h)
    h = Conv2DTranspose(2, (3, 2), strides=(2, 3), output_padding=(1, 2), use_bias=False,
                        data_format=CL)(h)
    a = Conv2DTranspose(2, 3, dilation_rate=2, padding="same", activation="gelu",
                        data_format=CL)(x)
    s = Conv1DTranspose(3, 4, strides=2, padding="same", output_padding=1,
                        activation="sigmoid")(Reshape((15, 4))(x))
    return _classify(rng, x, concatenate([Flatten()(h), Flatten()(a), Flatten()(s)]), (5, 6, 2))


def conv_transpose_cf(rng):
    x = Input(shape=(2, 5, 6))
    h = Conv2DTranspose(3, 4, strides=2, padding="same", output_padding=1, activation="elu",
                        data_format=CF)(x)
    h = Conv2D(2, 3, strides=2, data_format=CF)(h)
    h = Conv2DTranspose(3, (2, 3), dilation_rate=(2, 1), activation="relu", data_format=CF)(h)
    s = Conv1DTranspose(2, 3, strides=3, padding="valid", data_format=CF)(Reshape((4, 15))(x))
    return _classify(rng, x, concatenate([Flatten()(h), Flatten()(s)]), (2, 5, 6),
                     opt=optimizers.Adam(learning_rate=0.01))


def conv_grouped_cl(rng):
    x = Input(shape=(6, 7, 4))
    h = Conv2D(4, 2, groups=2, activation="relu", data_format=CL)(x)
    h = DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="gelu",
                        data_format=CL)(h)
    s = SeparableConv2D(3, 3, dilation_rate=2, padding="same", use_bias=False,
                        data_format=CL)(x)
    c = Conv1D(6, 3, groups=3, padding="causal", activation="tanh")(Reshape((14, 12))(x))
    return _classify(rng, x, concatenate([Flatten()(h), Flatten()(s), Flatten()(c)]), (6, 7, 4))


def conv_grouped_cf(rng):
    x = Input(shape=(4, 6, 7))
    h = DepthwiseConv2D((3, 2), depth_multiplier=3, activation="elu", data_format=CF)(x)
    h = Conv2D(6, 3, strides=2, groups=3, padding="same", data_format=CF)(h)
    s = SeparableConv2D(2, 2, strides=2, depth_multiplier=2, activation="sigmoid",
                        data_format=CF)(x)
    return _classify(rng, x, concatenate([Flatten()(h), Flatten()(s)]), (4, 6, 7),
                     opt=optimizers.Adam(learning_rate=0.01))



# every name contains "conv", so `pytest tests/cuda -k conv` selects them
CASES = {f.__name__: f for f in (conv_transpose_cl, conv_transpose_cf, conv_grouped_cl,
                                 conv_grouped_cf)}
