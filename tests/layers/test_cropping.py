"""Cropping1D, Cropping2D and ZeroPadding1D (the zero_pad2d op run either way): tiny
sequence and conv models predicting and trained 2 epochs as Keras 3 (torch) with the same
weights, both layouts where Keras has them; gradients (dy put back in zeros for a crop,
cropped for a pad) against finite differences of a float64 numpy reference; every spelling
of `cropping`, layout inference, config/JSON round trip and errors."""
import functools

import keras_parity
import numpy as np
from numerics_ref import check_gradients, dense, randomize
import pytest

from kcc.layers import (Conv2D, Cropping1D, Cropping2D, Dense, Flatten, Input, ZeroPadding1D,
                        concatenate)
from kcc.models import Model, model_from_json

FORMATS = ["channels_last", "channels_first"]


def _conv_net(L, Model, data_format):
    shape = (5, 6, 2) if data_format == "channels_last" else (2, 5, 6)
    x = L.Input(shape=shape)
    h = L.Conv2D(2, 2, activation="tanh", data_format=data_format, name="conv")(x)
    h = L.Cropping2D(((1, 0), (2, 1)), data_format=data_format)(h)
    return Model(x, L.Dense(2, activation="softmax", name="out")(L.Flatten()(h)))


def _seq_net(L, Model, data_format):
    x = L.Input(shape=(6, 3) if data_format == "channels_last" else (3, 6))
    h = L.Conv1D(2, 2, activation="tanh", data_format=data_format, name="conv")(x)
    h = L.ZeroPadding1D((2, 1), data_format=data_format)(h)
    h = L.Cropping1D((1, 0))(h)
    return Model(x, L.Dense(2, activation="softmax", name="out")(L.Flatten()(h)))


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("net", [_conv_net, _seq_net])
def test_fits_as_keras(net, data_format):
    keras_parity.assert_net_fits_as_keras(functools.partial(net, data_format=data_format),
                                          ("conv", "out"))


@pytest.mark.parametrize("data_format", FORMATS)
def test_gradients_match_finite_differences(data_format):
    """Dense('a') -> Cropping2D on an image; Dense('c') -> ZeroPadding1D -> Cropping1D on a
    sequence; both flattened into Dense('b'), one mse loss."""
    last = data_format == "channels_last"
    img = Input(shape=(4, 5, 2) if last else (2, 4, 5))
    h = Dense(2 if last else 5, activation="tanh", name="a")(img)     # keeps the image shape
    h = Cropping2D(((1, 2), (0, 3)), data_format=data_format)(h)
    seq = Input(shape=(4, 3) if last else (3, 4))
    s = Dense(3, activation="tanh", name="c")(seq)
    s = Cropping1D((1, 0))(ZeroPadding1D((1, 2), data_format=data_format)(s))   # axis 1
    model = Model([img, seq], Dense(1, name="b")(concatenate([Flatten()(h), Flatten()(s)])))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(2)
    params = randomize(model, rng, 1.5)
    xi = rng.normal(size=(2,) + img.shape[1:]).astype(np.float32)
    xs = rng.normal(size=(2,) + seq.shape[1:]).astype(np.float32)
    y = rng.normal(size=(2, 1)).astype(np.float32)

    def forward(p):
        h = dense(p, "a", xi, "tanh")
        h = h[:, 1:-2, 0:-3] if last else h[:, :, 1:-2, 0:-3]
        s = dense(p, "c", xs, "tanh")
        s = np.pad(s, [(0, 0), (1, 2), (0, 0)] if last else [(0, 0), (0, 0), (1, 2)])[:, 1:]
        return [dense(p, "b", np.concatenate([h.reshape(2, -1), s.reshape(2, -1)], axis=1))]

    np.testing.assert_allclose(model.predict([xi, xs], verbose=0), forward(params)[0], atol=1e-5)
    check_gradients(model, [xi, xs], y, forward, ["mse"], what=f"cropping {data_format}")


@pytest.mark.parametrize("cropping, normal", [
    (1, ((1, 1), (1, 1))),
    ((2, 0), ((2, 2), (0, 0))),
    (((1, 0), (2, 3)), ((1, 0), (2, 3))),
    ([[0, 2], 1], ((0, 2), (1, 1))),
])
def test_cropping_spellings(cropping, normal):
    assert Cropping2D(cropping).cropping == normal


def test_layout_inference():
    x = Conv2D(3, 2, data_format="channels_first")(Input(shape=(1, 6, 6)))
    c = Cropping2D(((1, 0), (0, 2)))(x)                 # the input's layout: channels first
    assert c.shape == (None, 3, 4, 3) and c._kcc_layout == "channels_first"
    assert Cropping2D(1, dim_ordering="th")(Input(shape=(2, 4, 4))).shape == (None, 2, 2, 2)
    assert Cropping2D(1)(Input(shape=(4, 4, 2))).shape == (None, 2, 2, 2)
    assert Cropping1D()(Input(shape=(5, 2))).shape == (None, 3, 2)
    assert ZeroPadding1D()(Input(shape=(5, 2))).shape == (None, 7, 2)
    assert ZeroPadding1D(3, data_format="channels_first")(Input(shape=(2, 5))).shape == \
        (None, 2, 11)


def test_config_round_trip_and_errors():
    x = Input(shape=(2, 5, 5))
    h = Cropping2D(((1, 2), (0, 1)), data_format="channels_first", name="c2")(x)
    s = Input(shape=(6, 2))
    t = ZeroPadding1D((0, 2), name="z1")(Cropping1D((3, 1), name="c1")(s))
    m = model_from_json(Model([x, s], [h, t]).to_json())
    assert m.get_layer("c2").get_config()["data_format"] == "channels_first"
    assert [tuple(p) for p in m.get_layer("c2").get_config()["cropping"]] == [(1, 2), (0, 1)]
    assert tuple(m.get_layer("c1").get_config()["cropping"]) == (3, 1)
    assert tuple(m.get_layer("z1").get_config()["padding"]) == (0, 2)
    assert m.output_shape == [(None, 2, 2, 4), (None, 4, 2)]
    with pytest.raises(ValueError, match=r"'cr'.*Cropping1D.*\(2, 3\) leaves nothing of the 5"):
        Cropping1D((2, 3), name="cr")(Input(shape=(5, 2)))
    with pytest.raises(ValueError, match=r"Cropping2D.*nothing of the 4 entries of axis cols"):
        Cropping2D(((0, 0), (2, 2)))(Input(shape=(6, 4, 1)))
    for bad in (-1, (1, 2, 3), 1.5, "same", ((1, 2), (3,))):
        with pytest.raises(ValueError, match="`cropping`"):
            Cropping2D(bad)
    for bad in (-1, (1, -1), (1, 2, 3), 1.5):
        with pytest.raises(ValueError, match="`cropping`"):
            Cropping1D(bad)
        with pytest.raises(ValueError, match="`padding`"):
            ZeroPadding1D(bad)
    with pytest.raises(ValueError):
        Cropping1D()(Input(shape=(5, 2, 1)))
