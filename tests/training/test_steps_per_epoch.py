"""fit(steps_per_epoch=...) with arrays, against Keras 3 (torch backend): an epoch is that
many batches and the next epoch goes on where it stopped; a pass over the data that runs
out ends its epoch early (with Keras's warning) and the next epoch starts over; without a
batch_size the batches cover the data in the given steps, for evaluate and predict too."""
import os

import numpy as np
import pytest

import kcc
from kcc.callbacks import Callback
from kcc.models import Model


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _pair(keras):
    def build(L, M):
        x = L.Input(shape=(4,))
        return M(x, L.Dense(3, activation="softmax", name="out")(L.Dense(5, activation="tanh")(x)))
    ours, theirs = build(kcc.layers, Model), build(keras.layers, keras.Model)
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy",
                   metrics=["accuracy"])
    return ours, theirs


def _sizes(base):
    """A callback (of kcc's or Keras's `base`) recording each epoch's batch count."""
    class Sizes(base):
        def on_train_begin(self, logs=None):
            self.batches = []

        def on_epoch_begin(self, epoch, logs=None):
            self.batches.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.batches[-1] += 1
    return Sizes()


def _same(ours, theirs):
    assert list(ours) == list(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_steps_per_epoch_goes_on_where_the_last_epoch_stopped_as_keras():
    keras = _keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 10)]
    ours, theirs = _pair(keras)
    runs = []
    # 3 batches of 4, 4, 2: 2 steps, then the 1 left (the pass ran out), then 2, ...;
    # 5 steps: every epoch runs out after 3; no batch_size: batches of ceil(10 / 3) = 4
    for kw in (dict(batch_size=4, steps_per_epoch=2, epochs=4), dict(batch_size=4, steps_per_epoch=5, epochs=2),
               dict(steps_per_epoch=3, epochs=2, validation_data=(x[:7], y[:7]), validation_steps=2)):
        for m, base in ((ours, Callback), (theirs, keras.callbacks.Callback)):
            sizes = _sizes(base)
            with pytest.warns(UserWarning, match="ran out of data") if kw["steps_per_epoch"] != 3 \
                    else _no_warning():
                h = m.fit(x, y, shuffle=False, verbose=0, callbacks=[sizes], **kw).history
            runs.append((h, sizes.batches))
        (h0, b0), (h1, b1) = runs[-2:]
        assert b0 == b1
        _same(h0, h1)
    assert [b for _, b in runs[::2]] == [[2, 1, 2, 1], [3, 3], [3, 3]]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # evaluate / predict without a batch_size: `steps` batches cover the data
    assert ours.evaluate(x, y, steps=2, verbose=0) == pytest.approx(ours.evaluate(x, y, verbose=0))
    assert len(ours.predict(x, steps=3)) == 10


def _no_warning():
    import contextlib
    import warnings

    @contextlib.contextmanager
    def ctx():
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*ran out of data")
            yield
    return ctx()


def test_steps_per_epoch_with_shuffle_takes_every_sample_once_a_pass():
    """Shuffled, an epoch's rows are the next part of one shuffled pass: two epochs of half
    the data see every sample once, and the next pass is shuffled anew."""
    from kcc.training.trainer import _EpochRows
    ids = np.arange(8)
    rows = _EpochRows([ids], [ids * 10], 8, 2, 2, shuffle=True)
    epochs = [rows.next() for _ in range(6)]
    assert all(n == 4 and np.array_equal(x[0] * 10, y[0]) for x, y, n in epochs)
    passes = [np.concatenate([epochs[k][0][0], epochs[k + 1][0][0]]) for k in (0, 2, 4)]
    assert all(sorted(p) == list(ids) for p in passes)
    assert len({tuple(p) for p in passes}) > 1

    from kcc.layers import Dense, Input
    inp = Input(shape=(2,))
    model = Model(inp, Dense(1)(inp))
    model.compile(optimizer="sgd", loss="mse")
    x = np.eye(8, 2, dtype=np.float32)
    h = model.fit(x, np.zeros((8, 1)), batch_size=2, steps_per_epoch=2, epochs=3, verbose=0)
    assert len(h.history["loss"]) == 3
    with pytest.raises(ValueError, match=r"`steps_per_epoch` must be a positive integer.*=1\.5"):
        model.fit(x, np.zeros((8, 1)), steps_per_epoch=1.5, verbose=0)
