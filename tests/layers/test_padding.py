"""ZeroPadding2D: every spelling of `padding`, both layouts, forward against numpy, the
gradient (a crop of dy) against finite differences, layout inference and errors."""
import os
import sys

import numpy as np
import pytest

from kcc.layers import (Convolution2D, Dense, Flatten, Input, MaxPooling2D, TimeDistributed,
                        ZeroPadding2D)
from kcc.models import Model
from kcc.utils import clear_session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_pooling import check_gradients, dense, image, pool_ref  # noqa: E402

FORMATS = ["channels_last", "channels_first"]


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()


def pad_ref(x, padding, data_format):
    (t, b), (l, r) = padding
    spec = [(0, 0), (t, b), (l, r), (0, 0)] if data_format == "channels_last" else \
        [(0, 0), (0, 0), (t, b), (l, r)]
    return np.pad(np.asarray(x, np.float64), spec)


@pytest.mark.parametrize("padding, normal", [
    (1, ((1, 1), (1, 1))),
    ((2, 0), ((2, 2), (0, 0))),
    ((0, 3), ((0, 0), (3, 3))),
    (((1, 0), (2, 3)), ((1, 0), (2, 3))),
    ([[0, 2], [1, 0]], ((0, 2), (1, 0))),
    ((1, 2, 3, 0), ((1, 2), (3, 0))),                   # Keras 1: (top, bottom, left, right)
    ({"top_pad": 2, "right_pad": 1}, ((2, 0), (0, 1))), # Keras 1's dictionary
])
def test_padding_spellings(padding, normal):
    assert ZeroPadding2D(padding).padding == normal


@pytest.mark.parametrize("data_format", FORMATS)
def test_forward_against_numpy(data_format):
    rng = np.random.default_rng(0)
    shape = (5, 4, 3) if data_format == "channels_last" else (3, 5, 4)
    cases = [((1, 1), (1, 1)), ((2, 0), (0, 3)), ((0, 1), (3, 0)), ((0, 0), (0, 0))]
    inp = Input(shape=shape)
    outs = [ZeroPadding2D(p, data_format=data_format)(inp) for p in cases]
    x = image(rng, shape)
    for p, out, y in zip(cases, outs, Model(inp, outs).predict(x, batch_size=2)):
        want = pad_ref(x, p, data_format)
        assert out.shape[1:] == want.shape[1:]
        np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("data_format", FORMATS)
def test_gradients(data_format):
    """Input -> Dense('pre') -> ZeroPadding2D -> MaxPooling2D 'same' -> Flatten -> Dense."""
    rng = np.random.default_rng(1)
    shape = (4, 3, 2) if data_format == "channels_last" else (2, 4, 3)
    pad = ((1, 2), (0, 1))
    inp = Input(shape=shape)
    h = ZeroPadding2D(pad, data_format=data_format)(Dense(3, name="pre")(inp))
    h = MaxPooling2D((2, 2), padding="same", data_format=data_format)(h)
    out = Dense(2, name="head")(Flatten()(h))
    x = image(rng, shape)

    def forward(p):
        z = pool_ref(pad_ref(dense(p, "pre", x), pad, data_format), "max", (2, 2), None,
                     "same", data_format)
        return dense(p, "head", z.reshape(len(x), -1))

    check_gradients(Model(inp, out), x, forward, rng, f"zero padding {data_format}")


def test_gradients_inside_time_distributed():
    rng = np.random.default_rng(2)
    seq = Input(shape=(2, 3, 3, 2))
    h = TimeDistributed(ZeroPadding2D(((1, 0), (0, 2)), data_format="channels_last"))(
        Dense(2, name="pre")(seq))
    out = Dense(2, name="head")(Flatten()(h))
    x = image(rng, (2, 3, 3, 2))

    def forward(p):
        z = dense(p, "pre", x)
        z = np.stack([pad_ref(z[:, t], ((1, 0), (0, 2)), "channels_last") for t in range(2)], 1)
        return dense(p, "head", z.reshape(len(x), -1))

    check_gradients(Model(seq, out), x, forward, rng, "TimeDistributed zero padding")


def test_layout_inference():
    x = Convolution2D(4, 3, 3)(Input(shape=(1, 9, 9)))            # channels_first
    padded = ZeroPadding2D((1, 2))(x)
    assert padded.shape == (None, 4, 9, 11) and padded._kcc_layout == "channels_first"
    assert MaxPooling2D((3, 3))(padded).shape == (None, 4, 3, 3)
    assert ZeroPadding2D(1)(Input(shape=(4, 4, 2))).shape == (None, 6, 6, 2)
    assert ZeroPadding2D(1, dim_ordering="th")(Input(shape=(2, 4, 4))).shape == (None, 2, 6, 6)
    assert ZeroPadding2D(1, data_format="channels_last")(x).shape == (None, 6, 9, 7)


@pytest.mark.parametrize("padding", [-1, (1, -2), ((1, 2), (3,)), "same", 1.5, (True, 1),
                                     {"top": 1}])
def test_invalid_padding(padding):
    with pytest.raises(ValueError, match="padding"):
        ZeroPadding2D(padding, name="zp")


def test_rank_must_be_4():
    with pytest.raises(ValueError, match=r"Layer zero_padding2d_1 expects 4D inputs"):
        ZeroPadding2D(1)(Input(shape=(5, 5)))
