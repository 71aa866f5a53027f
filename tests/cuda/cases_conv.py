"""CUDA cases: Conv2D / Convolution2D (both data formats, same/valid, strides, dilation,
fused activations, 1x1), Max/Average pooling (same/valid, overlapping or not), global
pooling, ZeroPadding2D, Flatten after a conv, an inception-like channels_first concat of
conv towers (convs writing into slices of it), a residual add of conv outputs, and a text
CNN of Conv1D / 1-D pooling (lowered to conv2d / pool2d on one-row images: causal padding is
all before the steps, a geometry no 2-D layer makes)."""
import numpy as np

from kcc import optimizers
from kcc.layers import (Activation, Add, AveragePooling1D, AveragePooling2D, Conv1D, Conv2D,
                        Convolution2D, Dense, Embedding, Flatten, GlobalAveragePooling2D,
                        GlobalMaxPooling1D, GlobalMaxPooling2D, Input, MaxPooling1D,
                        MaxPooling2D, ZeroPadding2D, add, concatenate, merge)
from kcc.layers import (Cropping1D, Cropping2D, Reshape, UpSampling1D, UpSampling2D,
                        ZeroPadding1D)
from kcc.models import Model

CF, CL = "channels_first", "channels_last"


def _onehot(rng, n, k):
    return np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]


def _images(rng, n, cf, c=2, h=9, w=9):
    return rng.standard_normal((n, c, h, w) if cf else (n, h, w, c)).astype(np.float32)


def _classify(rng, model_in, h, n, cf, k=3, opt=None):
    y = Dense(k, activation="softmax")(Flatten()(h) if len(h.shape) > 2 else h)
    return dict(model=Model(model_in, y), x=[_images(rng, n, cf)], y=[_onehot(rng, n, k)],
                loss="categorical_crossentropy",
                optimizer=opt or optimizers.SGD(learning_rate=0.05, momentum=0.9), metrics=["accuracy"])


def conv_cl_same_strided(rng):
    x = Input(shape=(9, 9, 2))
    h = Conv2D(4, 3, padding="same", activation="relu", data_format=CL)(x)           # 2-row bands
    h = Conv2D(5, (3, 2), strides=(2, 2), padding="valid", activation="tanh", data_format=CL)(h)
    h = Conv2D(3, (2, 2), strides=(1, 2), padding="same", activation="elu", use_bias=False,
               data_format=CL)(h)
    return _classify(rng, x, h, 4, cf=False)


def conv_cf_same_strided(rng):
    x = Input(shape=(2, 9, 9))
    h = Conv2D(4, 3, padding="same", activation="relu", data_format=CF)(x)
    h = Conv2D(5, (3, 2), strides=(2, 2), padding="valid", activation="sigmoid", data_format=CF)(h)
    h = Conv2D(3, (2, 2), strides=(1, 2), padding="same", activation="softplus", use_bias=False,
               data_format=CF)(h)
    return _classify(rng, x, h, 4, cf=True, opt=optimizers.Adam(learning_rate=0.01))


def conv_dilated_both(rng):
    x = Input(shape=(2, 9, 9))
    h = Conv2D(3, (3, 2), dilation_rate=(2, 1), padding="same", activation="hard_sigmoid",
               data_format=CF)(x)
    h = Conv2D(4, (2, 3), dilation_rate=(1, 2), padding="valid", activation="relu", data_format=CF)(h)
    h = Conv2D(4, (3, 3), dilation_rate=(2, 2), strides=(1, 1), padding="same", data_format=CF)(h)
    return _classify(rng, x, h, 3, cf=True)


def conv_dilated_cl(rng):
    x = Input(shape=(9, 9, 2))
    h = Conv2D(3, (3, 2), dilation_rate=(2, 1), padding="same", activation="hard_sigmoid",
               data_format=CL)(x)
    h = Conv2D(4, (2, 3), dilation_rate=(1, 2), padding="valid", activation="relu", data_format=CL)(h)
    h = Conv2D(4, (3, 3), dilation_rate=(2, 2), padding="same", data_format=CL)(h)
    return _classify(rng, x, h, 3, cf=False)


def convolution2d_keras1(rng):
    x = Input(shape=(2, 9, 9))
    h = Convolution2D(4, 3, 3, border_mode="same", activation="relu")(x)
    h = Convolution2D(3, 3, 3, subsample=(2, 2), activation="tanh")(h)       # valid, strided
    h = Convolution2D(5, 1, 1, border_mode="same", activation="relu")(h)    # 1x1: no im2col
    h = Convolution2D(2, 1, 1, bias=False)(h)
    return _classify(rng, x, h, 3, cf=True)


def conv_1x1_cl(rng):
    x = Input(shape=(9, 9, 2))
    h = Conv2D(4, 1, activation="relu", data_format=CL)(x)
    h = Conv2D(3, 3, padding="same", activation="elu", data_format=CL)(h)
    h = Conv2D(5, 1, activation="sigmoid", data_format=CL)(h)
    h = Conv2D(2, (1, 1), use_bias=False, data_format=CL)(h)
    return _classify(rng, x, h, 3, cf=False)


def conv_softmax_activation(rng):
    # softmax over the last axis (columns for channels_first, filters for channels_last)
    x = Input(shape=(2, 9, 9))
    h = Conv2D(3, 3, activation="softmax", data_format=CF)(x)
    h = Conv2D(2, 2, strides=2, activation="relu", data_format=CF)(h)
    a = Conv2D(3, 3, padding="same", activation="softmax", data_format=CL)(
        Conv2D(2, 1, data_format=CL)(Activation("linear")(Conv2D(2, 1, data_format=CF)(x))))
    return _classify(rng, x, concatenate([Flatten()(h), Flatten()(a)]), 4, cf=True)


def conv_sigmoid_output(rng):
    # a conv whose output (through Flatten) is the model's, sigmoid + binary cross-entropy
    x = Input(shape=(2, 9, 9))
    h = Conv2D(4, 3, padding="same", activation="relu", data_format=CF)(x)
    y = Flatten()(Conv2D(1, 3, strides=2, activation="sigmoid", data_format=CF)(h))
    n = 3
    return dict(model=Model(x, y), x=[_images(rng, n, True)],
                y=[(rng.random((n, 16)) > 0.5).astype(np.float32)], loss="binary_crossentropy",
                optimizer=optimizers.RMSprop(learning_rate=0.01), metrics=["binary_accuracy"])


def pool_cf(rng):
    x = Input(shape=(2, 9, 9))
    h = Conv2D(4, 3, padding="same", activation="relu", data_format=CF)(x)
    h = MaxPooling2D((2, 2), data_format=CF)(h)                                 # valid, disjoint
    h = AveragePooling2D((3, 3), strides=(1, 1), padding="same", data_format=CF)(h)
    h = Conv2D(3, 2, data_format=CF)(h)
    h = MaxPooling2D((2, 2), strides=(1, 1), padding="valid", data_format=CF)(h)  # overlapping
    return _classify(rng, x, h, 3, cf=True)


def pool_cl(rng):
    x = Input(shape=(9, 9, 2))
    h = Conv2D(4, 3, padding="same", activation="tanh", data_format=CL)(x)
    h = MaxPooling2D((3, 3), strides=(2, 2), padding="same", data_format=CL)(h)  # overlapping
    h = AveragePooling2D((2, 2), padding="valid", data_format=CL)(h)             # disjoint
    return _classify(rng, x, h, 3, cf=False)


def pool_same_disjoint(rng):
    # 9x9 pooled 2x2 'same': a partial last window; avg divides by the pixels inside
    x = Input(shape=(9, 9, 2))
    a = MaxPooling2D((2, 2), padding="same", data_format=CL)(
        Conv2D(3, 3, padding="same", data_format=CL)(x))
    b = AveragePooling2D((2, 2), padding="same", data_format=CL)(
        Conv2D(3, 3, padding="same", activation="relu", data_format=CL)(x))
    c = AveragePooling2D((3, 2), strides=(2, 3), padding="valid", data_format=CL)(
        Conv2D(2, 2, data_format=CL)(x))
    d = MaxPooling2D((2, 3), strides=(3, 2), padding="same", data_format=CL)(
        Conv2D(2, 2, data_format=CL)(x))
    h = concatenate([Flatten()(a), Flatten()(b), Flatten()(c), Flatten()(d)])
    return _classify(rng, x, h, 3, cf=False)


def global_pooling(rng):
    x = Input(shape=(2, 9, 9))
    f = Conv2D(4, 3, padding="same", activation="relu", data_format=CF)(x)
    l = Conv2D(4, 3, padding="same", activation="relu", data_format=CL)(
        Conv2D(2, 1, data_format=CL)(Activation("linear")(f)))
    h = concatenate([GlobalMaxPooling2D(CF)(f), GlobalAveragePooling2D(CF)(f),
                     GlobalMaxPooling2D(CL)(l), GlobalAveragePooling2D(CL)(l)])
    return _classify(rng, x, h, 3, cf=True)


def zero_padding(rng):
    x = Input(shape=(2, 9, 9))
    h = ZeroPadding2D((1, 2), data_format=CF)(x)
    h = Conv2D(3, 3, activation="relu", data_format=CF)(h)
    h = ZeroPadding2D(((2, 0), (1, 3)), data_format=CF)(h)
    h = Conv2D(2, 3, strides=2, data_format=CF)(h)
    return _classify(rng, x, h, 3, cf=True)


def zero_padding_cl(rng):
    x = Input(shape=(9, 9, 2))
    h = Conv2D(3, 2, activation="relu", data_format=CL)(x)
    h = ZeroPadding2D(((0, 1), (2, 1)), data_format=CL)(h)
    h = Conv2D(3, 3, activation="relu", data_format=CL)(h)
    h = ZeroPadding2D(1, data_format=CL)(h)
    h = MaxPooling2D((2, 2), data_format=CL)(h)
    return _classify(rng, x, h, 3, cf=False)


def inception_concat(rng):
    # the guide's inception module at 2x9x9: conv towers written into slices of the concat
    img = Input(shape=(2, 9, 9))
    t1 = Convolution2D(4, 1, 1, border_mode="same", activation="relu")(img)
    t1 = Convolution2D(4, 3, 3, border_mode="same", activation="relu")(t1)
    t2 = Convolution2D(4, 1, 1, border_mode="same", activation="relu")(img)
    t2 = Convolution2D(3, 5, 5, border_mode="same", activation="relu")(t2)
    t3 = MaxPooling2D((3, 3), strides=(1, 1), border_mode="same")(img)
    t3 = Convolution2D(2, 1, 1, border_mode="same", activation="relu")(t3)
    h = merge([t1, t2, t3], mode="concat", concat_axis=1)
    h = Convolution2D(3, 3, 3, subsample=(2, 2), activation="relu")(h)
    return _classify(rng, img, h, 3, cf=True, opt=optimizers.Adam(learning_rate=0.01))


def residual_add(rng):
    x = Input(shape=(9, 9, 2))
    h = Conv2D(4, 3, padding="same", activation="relu", data_format=CL)(x)
    r = Conv2D(4, 3, padding="same", activation="relu", data_format=CL)(h)
    r = Conv2D(4, 3, padding="same", data_format=CL)(r)
    h = Activation("relu")(add([h, r]))
    h2 = Conv2D(4, 3, strides=2, padding="same", data_format=CL)(h)
    h2 = Add()([h2, Conv2D(4, 1, strides=2, data_format=CL)(h)])
    return _classify(rng, x, GlobalAveragePooling2D(CL)(h2), 3, cf=False)


def residual_add_cf(rng):
    x = Input(shape=(2, 9, 9))
    h = Conv2D(4, 3, padding="same", activation="elu", data_format=CF)(x)
    r = Conv2D(4, (3, 3), padding="same", activation="relu", data_format=CF)(h)
    r = Conv2D(4, (3, 3), dilation_rate=2, padding="same", data_format=CF)(r)
    h = Activation("tanh")(add([h, r, h]))
    return _classify(rng, x, MaxPooling2D((2, 2), data_format=CF)(h), 3, cf=True)


def conv1d_text_cnn(rng):
    ids = Input(shape=(12,), dtype="int32")
    h = Embedding(20, 4)(ids)
    a = Conv1D(5, 3, padding="causal", dilation_rate=2, activation="relu")(h)
    a = MaxPooling1D(2, padding="same")(Conv1D(4, 3, strides=2, padding="causal")(a))
    b = Conv1D(3, 2, padding="same", data_format=CF, activation="tanh")(h)   # (C, steps) = (12, 4)
    b = AveragePooling1D(2, data_format=CF)(b)
    y = Dense(3, activation="softmax")(concatenate([GlobalMaxPooling1D()(a), Flatten()(b)]))
    return dict(model=Model(ids, y), x=[rng.integers(0, 20, (5, 12)).astype(np.int32)],
                y=[_onehot(rng, 5, 3)], loss="categorical_crossentropy",
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=["accuracy"])


def resample(rng):
    """UpSampling2D and Cropping2D in both layouts, UpSampling1D, Cropping1D, ZeroPadding1D
    in both: concats that repeat blocks (the copies' gradients summed) and the zero_pad2d op
    both ways (a crop's backward puts dy back in zeros)."""
    x = Input(shape=(2, 9, 9))
    a = Conv2D(3, 2, activation="relu", data_format=CF)(x)
    a = UpSampling2D((2, 1), data_format=CF)(a)
    a = Cropping2D(((1, 2), (0, 1)), data_format=CF)(a)
    b = Conv2D(2, 1, activation="tanh", data_format=CL)(x)
    b = UpSampling2D(2, data_format=CL)(b)
    b = Cropping2D(((0, 1), (2, 3)), data_format=CL)(b)
    s = UpSampling1D(2)(Reshape((-1, 2))(b))
    s = ZeroPadding1D((1, 2), data_format=CF)(Cropping1D((1, 1))(s))
    s = Conv1D(2, 3)(ZeroPadding1D(1)(s))
    return _classify(rng, x, concatenate([Flatten()(a), Flatten()(s)]), 3, cf=True)


# every name contains "conv", so `pytest tests/cuda -k conv` selects this module's cases
CASES = {(f.__name__ if "conv" in f.__name__ else "conv_" + f.__name__): f for f in (
    conv_cl_same_strided, conv_cf_same_strided, conv_dilated_both, conv_dilated_cl,
    convolution2d_keras1, conv_1x1_cl, conv_softmax_activation, conv_sigmoid_output, pool_cf,
    pool_cl, pool_same_disjoint, global_pooling, zero_padding, zero_padding_cl, inception_concat,
    residual_add, residual_add_cf, conv1d_text_cnn, resample)}
