"""Dropout masks shared along axes: Dropout(noise_shape=...), SpatialDropout1D/2D, and the
recurrent layers' input dropout (`dropout=`, one mask per sample for every timestep).

The masks are read exactly through a probe's gradient, as test_dropout_training.py does:
x -> dropout -> Flatten -> bias-free Dense(1) "probe", mae against a far target, sample i
all 2^i, so d loss / d probe_kernel decodes into every sample's mask (times 1/keep)."""
import numpy as np
import pytest

import numerics_ref as ref
from kcc import optimizers
from kcc.graph.trace import lower
from kcc.layers import (LSTM, Bidirectional, Dense, Dropout, Flatten, Input, Reshape,
                        SpatialDropout1D, SpatialDropout2D)
from kcc.models import Model, model_from_json
from test_dropout_training import FAR, _decode

ROWS = 3


def _masks(layer, sample_shape, rate, seed=11):
    """(ROWS,) + sample_shape boolean masks (True = kept) that `layer` draws in training."""
    inp = Input(shape=sample_shape)
    probe = Dense(1, use_bias=False, kernel_initializer="zeros", name="probe")
    model = Model(inp, probe(Flatten()(layer(inp))))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mae")
    x = np.broadcast_to(2.0 ** np.arange(ROWS, dtype=np.float32).reshape(
        (ROWS,) + (1,) * len(sample_shape)), (ROWS,) + sample_shape).copy()
    _, grads = model._native.gradients(model._x(x), model._y(np.full((ROWS, 1), FAR, np.float32)),
                                       seed=seed)
    kept = _decode(-grads["probe/kernel"][:, 0].astype(np.float64) * ROWS, rate, ROWS)
    return kept.reshape((ROWS,) + sample_shape)


def _shared_along(kept, axes):
    """Every mask equals its own first entry along `axes` (0 = the samples)."""
    first = kept[tuple(slice(0, 1) if a in axes else slice(None) for a in range(kept.ndim))]
    return np.array_equal(kept, np.broadcast_to(first, kept.shape))


@pytest.mark.parametrize("data_format, channels", [("channels_last", 3), ("channels_first", 1)])
def test_spatial_dropout2d_keeps_or_drops_whole_channels(data_format, channels):
    shape = (3, 4, 24) if channels == 3 else (24, 3, 4)
    kept = _masks(SpatialDropout2D(0.5, data_format=data_format), shape, 0.5)
    assert _shared_along(kept, {1, 2, 3} - {channels})      # a channel: kept at every pixel
    assert not _shared_along(kept, {0})                      # each sample its own channels
    assert not _shared_along(kept, {channels})


def test_inference_is_the_identity():
    inp = Input(shape=(3, 4, 5))
    h = SpatialDropout2D(0.5)(Dropout(0.5, noise_shape=(1, None, 1, None))(inp))
    model = Model(inp, SpatialDropout1D(0.5)(Reshape((12, 5))(h)))
    x = np.random.default_rng(42).normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), x.reshape(2, 12, 5))


def test_spatial_dropout1d_drops_about_rate_of_the_channels():
    rate, channels = 0.3, 3000
    kept = _masks(SpatialDropout1D(rate), (2, channels), rate)
    assert _shared_along(kept, {1})
    sigma = np.sqrt(rate * (1 - rate) / channels)
    for row in kept[:, 0, :]:
        assert abs((1 - row.mean()) - rate) < 5 * sigma


def test_noise_shape_shares_along_its_ones_batch_included():
    # (1, 1, None, 1): one mask for all samples, shared along axes 1 and 3 (two groups)
    kept = _masks(Dropout(0.5, noise_shape=(1, 1, None, 1)), (3, 12, 4), 0.5)
    assert _shared_along(kept, {0, 1, 3}) and not _shared_along(kept, {2})
    kept = _masks(Dropout(0.5, noise_shape=(None, 1, None, None)), (6, 2, 5), 0.5)
    assert _shared_along(kept, {1}) and not _shared_along(kept, {0})
    # a full noise shape is plain dropout: the same mask
    a = _masks(Dropout(0.5, noise_shape=(None, 6, None)), (6, 4), 0.5)
    np.testing.assert_array_equal(a, _masks(Dropout(0.5), (6, 4), 0.5))


def test_backward_applies_the_shared_mask():
    """pre = Dense(K) -> (T, C) -> SpatialDropout1D -> probe: d loss / d pre is the probe's
    weight times the mask / keep the forward used (zero in the dropped channels)."""
    rate, T, C = 0.5, 3, 16
    rng = np.random.default_rng(40)
    inp = Input(shape=(5,))
    h = SpatialDropout1D(rate)(Reshape((T, C))(Dense(T * C, name="pre")(inp)))
    model = Model(inp, Dense(1, use_bias=False, name="probe")(Flatten()(h)))
    model.compile(optimizer="sgd", loss="mae")
    p = ref.randomize(model, rng)
    x = rng.normal(size=(1, 5)).astype(np.float32)
    _, grads = model._native.gradients(model._x(x), model._y(np.full((1, 1), FAR, np.float32)),
                                       seed=3)
    scaled = -grads["probe/kernel"][:, 0] / ref.dense(p, "pre", x)[0]       # mask / keep
    np.testing.assert_allclose(scaled * (1 - rate), np.rint(scaled * (1 - rate)), atol=1e-4)
    assert _shared_along(scaled.reshape(1, T, C) != 0, {1})
    d_pre = -p["probe/kernel"][:, 0] * scaled
    np.testing.assert_allclose(grads["pre/bias"], d_pre, rtol=1e-5, atol=1e-7)


def test_noise_shape_that_does_not_broadcast_names_the_layer():
    with pytest.raises(ValueError, match=r"Layer drop.*noise_shape.*\(None, 5, 8\).*"
                                         r"Received: noise_shape=\(None, 2, 8\)"):
        Dropout(0.5, noise_shape=(None, 2, 8), name="drop")(Input(shape=(5, 8)))
    with pytest.raises(ValueError, match="expected 3 entries"):
        Dropout(0.5, noise_shape=(None, 1))(Input(shape=(5, 8)))
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 0))


def _lstm_model(first, rnn):
    inp = Input(shape=(4, 5))
    model = Model(inp, Dense(2, name="out")(rnn(first(inp))))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    return model


def test_lstm_dropout_is_one_mask_for_every_step():
    """LSTM(dropout=r) is Dropout(r, noise_shape=(None, 1, F)) before a plain LSTM: the same
    op, so the same gradients and the same step; it changes training, not predict."""
    rng = np.random.default_rng(41)
    x = rng.normal(size=(6, 4, 5)).astype(np.float32)
    y = rng.normal(size=(6, 2)).astype(np.float32)
    a = _lstm_model(lambda t: t, LSTM(3, dropout=0.4, seed=5, name="rnn"))
    b = _lstm_model(Dropout(0.4, noise_shape=(None, 1, None), seed=5), LSTM(3, name="rnn"))
    c = _lstm_model(lambda t: t, LSTM(3, name="rnn"))
    ops = lower(a).ops
    assert ops[0].family == "dropout" and ops[0].attrs["shared"] == [[5, 4]]
    start = a.get_weights()
    for m in (b, c):
        m.set_weights(start)
    np.testing.assert_array_equal(a.predict(x), c.predict(x))
    la, ga = a._native.gradients(a._x(x), a._y(y), seed=9)
    lb, gb = b._native.gradients(b._x(x), b._y(y), seed=9)
    lc, _ = c._native.gradients(c._x(x), c._y(y), seed=9)
    assert la == lb and la != lc
    assert sorted(ga) == sorted(gb)
    for k in ga:
        np.testing.assert_array_equal(ga[k], gb[k], err_msg=k)


def test_bidirectional_lstm_dropout_draws_a_mask_per_direction():
    inp = Input(shape=(4, 5))
    model = Model(inp, Bidirectional(LSTM(3, dropout=0.25))(inp))
    drops = [op for op in lower(model).ops if op.family == "dropout"]
    assert len(drops) == 2 and all(op.attrs["rate"] == 0.25 for op in drops)


def test_configs_round_trip():
    inp = Input(shape=(4, 6, 6))
    h = SpatialDropout2D(0.25, data_format="channels_first", seed=2)(inp)
    h = Reshape((4, 36))(Dropout(0.5, noise_shape=(None, 1, 6, None))(h))
    h = SpatialDropout1D(0.2)(LSTM(3, dropout=0.3, seed=4, return_sequences=True)(h))
    model = Model(inp, h)
    rebuilt = model_from_json(model.to_json())
    assert rebuilt.to_json() == model.to_json()
    for a, b in zip(model.layers, rebuilt.layers):
        assert a.get_config() == b.get_config()
    cfg = {type(l).__name__: l.get_config() for l in rebuilt.layers}
    assert cfg["SpatialDropout2D"]["data_format"] == "channels_first"
    assert "noise_shape" not in cfg["SpatialDropout1D"]
    assert cfg["Dropout"]["noise_shape"] == (None, 1, 6, None)
    assert (cfg["LSTM"]["dropout"], cfg["LSTM"]["seed"], cfg["LSTM"]["recurrent_dropout"]) == (
        0.3, 4, 0.0)
