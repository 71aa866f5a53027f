"""Flatten's order on images (DESIGN.md, "Keras compatibility rules"): `Flatten()` keeps
memory order, as Keras 1 and Keras 3's default do (a view, no copy), whatever layout the
image has; only an explicit `Flatten(data_format='channels_first')` moves channels last
first, (C, H, W) -> (H, W, C), as Keras 3 does: a `transpose` op, forward and backward."""
import os
import sys

import numpy as np
import pytest

from kcc.layers import Convolution2D, Dense, Flatten, Input, TimeDistributed
from kcc.models import Model
from kcc.utils import clear_session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_pooling import check_gradients, dense, image  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()


def families(model):
    return [op.family for op in model._native_for_predict().graph.ops]


def test_plain_flatten_keeps_memory_order_even_after_a_channels_first_conv():
    inp = Input(shape=(2, 4, 3))
    inp._kcc_layout = "channels_first"
    out = Flatten()(inp)
    model = Model(inp, out)
    x = image(np.random.default_rng(0), (2, 4, 3))
    np.testing.assert_array_equal(model.predict(x), x.reshape(len(x), -1))
    assert families(model) == []                                  # a view
    conv = Convolution2D(3, 2, 2)(Input(shape=(1, 5, 5)))
    assert Flatten()(conv).shape == (None, 3 * 4 * 4)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 7), (4, 1, 3, 2)])
def test_channels_first_flatten_moves_channels_last(shape):
    inp = Input(shape=shape)
    model = Model(inp, Flatten(data_format="channels_first")(inp))
    x = image(np.random.default_rng(1), shape)
    want = np.moveaxis(x, 1, -1).reshape(len(x), -1)
    np.testing.assert_array_equal(model.predict(x, batch_size=2), want)
    assert families(model) == ["transpose"]


def test_no_copy_when_the_order_does_not_change():
    for shape in [(1, 4, 5), (6,)]:                 # one channel; a vector
        inp = Input(shape=shape)
        model = Model(inp, Flatten(data_format="channels_first")(inp))
        assert families(model) == []
        x = image(np.random.default_rng(2), shape)
        np.testing.assert_array_equal(model.predict(x), x.reshape(len(x), -1))
    inp = Input(shape=(3, 4, 5))
    assert families(Model(inp, Flatten(data_format="channels_last")(inp))) == []


def test_gradients():
    """Input (3, 4, 5) -> Dense('pre', last axis) -> Flatten(channels_first) -> Dense('head')."""
    rng = np.random.default_rng(3)
    inp = Input(shape=(3, 4, 5))
    flat = Flatten(data_format="channels_first")(Dense(2, name="pre")(inp))
    out = Dense(3, name="head")(flat)
    x = image(rng, (3, 4, 5))

    def forward(p):
        z = dense(p, "pre", x)                                    # (n, 3, 4, 2)
        return dense(p, "head", np.moveaxis(z, 1, -1).reshape(len(x), -1))

    check_gradients(Model(inp, out), x, forward, rng, "Flatten(channels_first)")


def test_inside_time_distributed():
    rng = np.random.default_rng(4)
    seq = Input(shape=(3, 2, 3, 4))
    flat = TimeDistributed(Flatten(data_format="channels_first"))(Dense(2, name="pre")(seq))
    assert flat.shape == (None, 3, 2 * 3 * 2)
    out = Dense(2, name="head")(flat)
    x = image(rng, (3, 2, 3, 4))

    def forward(p):
        z = dense(p, "pre", x)                                    # (n, T, 2, 3, 2)
        return dense(p, "head", np.moveaxis(z, 2, -1).reshape(len(x), 3, -1))

    check_gradients(Model(seq, out), x, forward, rng, "TimeDistributed(Flatten(channels_first))")
