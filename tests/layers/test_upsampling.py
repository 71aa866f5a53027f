"""UpSampling1D and UpSampling2D (nearest): tiny sequence and conv models predicting and
trained 2 epochs as Keras 3 (torch) with the same weights, both layouts for images;
gradients (each float's copies summed) against finite differences of a float64 numpy
reference; layout inference, config/JSON round trip and errors."""
import functools

import keras_parity
import numpy as np
from numerics_ref import check_gradients, dense, randomize
import pytest

from kcc.layers import Conv2D, Dense, Flatten, Input, UpSampling1D, UpSampling2D, concatenate
from kcc.models import Model, model_from_json

FORMATS = ["channels_last", "channels_first"]


def _conv_net(L, Model, data_format):
    shape = (3, 4, 2) if data_format == "channels_last" else (2, 3, 4)
    x = L.Input(shape=shape)
    h = L.Conv2D(2, 2, activation="tanh", data_format=data_format, name="conv")(x)
    h = L.UpSampling2D((2, 3), data_format=data_format)(h)
    return Model(x, L.Dense(2, activation="softmax", name="out")(L.Flatten()(h)))


def _seq_net(L, Model):
    x = L.Input(shape=(4, 3))
    h = L.Conv1D(2, 2, activation="tanh", name="conv")(x)
    h = L.UpSampling1D(3)(h)
    return Model(x, L.Dense(2, activation="softmax", name="out")(L.Flatten()(h)))


@pytest.mark.parametrize("data_format", FORMATS)
def test_conv_net_fits_as_keras(data_format):
    net = functools.partial(_conv_net, data_format=data_format)
    keras_parity.assert_net_fits_as_keras(net, ("conv", "out"))


def test_sequence_net_fits_as_keras():
    keras_parity.assert_net_fits_as_keras(_seq_net, ("conv", "out"), seed=1)


@pytest.mark.parametrize("data_format", FORMATS)
def test_gradients_match_finite_differences(data_format):
    """Input -> Dense('a') -> UpSampling2D((2, 3)) -> Flatten -> Dense('b'), and a sequence
    branch Dense('c') -> UpSampling1D(2), summed into one mse loss."""
    last = data_format == "channels_last"
    img = Input(shape=(2, 2, 3) if last else (3, 2, 2))
    h = Dense(3, activation="tanh", name="a")(img)
    up = UpSampling2D((2, 3), data_format=data_format)(h)
    seq = Input(shape=(3, 2))
    s = UpSampling1D(2)(Dense(2, activation="tanh", name="c")(seq))
    model = Model([img, seq], Dense(1, name="b")(concatenate([Flatten()(up), Flatten()(s)])))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(2)
    params = randomize(model, rng, 1.5)
    xi = rng.normal(size=(2,) + img.shape[1:]).astype(np.float32)
    xs = rng.normal(size=(2, 3, 2)).astype(np.float32)
    y = rng.normal(size=(2, 1)).astype(np.float32)
    hw = (1, 2) if last else (2, 3)

    def forward(p):
        h = dense(p, "a", xi, "tanh")
        h = np.repeat(np.repeat(h, 2, axis=hw[0]), 3, axis=hw[1])
        s = np.repeat(dense(p, "c", xs, "tanh"), 2, axis=1)
        return [dense(p, "b", np.concatenate([h.reshape(2, -1), s.reshape(2, -1)], axis=1))]

    np.testing.assert_allclose(model.predict([xi, xs], verbose=0), forward(params)[0], atol=1e-5)
    check_gradients(model, [xi, xs], y, forward, ["mse"], what=f"upsampling {data_format}")


def test_layout_inference_and_keras1():
    x = Conv2D(2, 3, data_format="channels_first")(Input(shape=(1, 5, 5)))
    up = UpSampling2D()(x)                              # the input's layout: channels first
    assert up.shape == (None, 2, 6, 6) and up._kcc_layout == "channels_first"
    assert UpSampling2D(size=(1, 2), dim_ordering="th")(Input(shape=(2, 3, 3))).shape == \
        (None, 2, 3, 6)
    assert UpSampling2D(3)(Input(shape=(2, 3, 1))).shape == (None, 6, 9, 1)
    assert UpSampling1D(length=3)(Input(shape=(2, 5))).shape == (None, 6, 5)


def test_config_round_trip_and_errors():
    x = Input(shape=(2, 3, 4))
    h = UpSampling2D((1, 2), data_format="channels_first", name="u2")(x)
    s = UpSampling1D(4, name="u1")(Input(shape=(3, 2)))
    m = model_from_json(Model(x, h).to_json())
    cfg = m.get_layer("u2").get_config()
    assert (tuple(cfg["size"]), cfg["data_format"], cfg["interpolation"]) == \
        ((1, 2), "channels_first", "nearest")
    assert s.shape == (None, 12, 2)
    assert UpSampling1D.from_config(UpSampling1D(4).get_config()).size == 4
    with pytest.raises(ValueError, match=r"'up'.*UpSampling2D.*'nearest'.*'bilinear'"):
        UpSampling2D(interpolation="bilinear", name="up")
    for bad in (0, (2, 0), 1.5, (1, 2, 3)):
        with pytest.raises(ValueError, match="`size`"):
            UpSampling2D(bad)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match=r"UpSampling1D.*`size`"):
            UpSampling1D(bad)
    with pytest.raises(ValueError, match="4D"):
        UpSampling2D()(Input(shape=(3, 3)))
    with pytest.raises(ValueError):
        UpSampling1D()(Input(shape=(3, 3, 1)))
