"""fit / evaluate / predict semantics: batching, history, validation, callbacks, sharing."""
import numpy as np
import pytest

import kcc
from kcc.callbacks import Callback, EarlyStopping, LambdaCallback
from kcc.layers import Dense, Dropout, Input
from kcc.models import Model


def mlp(seed=0, dropout=0.0, classes=3, features=8):
    kcc.utils.set_random_seed(seed)
    x = Input(shape=(features,))
    h = Dense(16, activation="relu")(x)
    if dropout:
        h = Dropout(dropout)(h)
    y = Dense(classes, activation="softmax")(h)
    return Model(x, y)


def blobs(n=96, classes=3, features=8, seed=1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centers = rng.standard_normal((classes, features)) * 3
    x = (centers[labels] + rng.standard_normal((n, features))).astype(np.float32)
    return x, np.eye(classes, dtype=np.float32)[labels]


def test_last_partial_batch_is_trained():
    model = mlp()
    model.compile("sgd", "categorical_crossentropy")
    x, y = blobs(n=33)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert model.optimizer.iterations == 2          # 32 + 1 rows: two updates


def test_history_validation_split_and_evaluate_agree():
    model = mlp()
    model.compile("adam", "categorical_crossentropy", metrics=["acc"])
    x, y = blobs(n=120)
    h = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert list(h.history) == ["acc", "loss", "val_acc", "val_loss"]   # Keras 3: sorted
    assert h.epoch == [0, 1, 2]
    # validation was the last 30 rows, unshuffled: evaluate on them gives the same numbers
    val_loss, val_acc = model.evaluate(x[90:], y[90:], verbose=0)
    assert val_loss == pytest.approx(h.history["val_loss"][-1], rel=1e-5)
    assert val_acc == pytest.approx(h.history["val_acc"][-1])


def test_validation_data_and_initial_epoch():
    model = mlp()
    model.compile("rmsprop", "categorical_crossentropy")
    x, y = blobs()
    h = model.fit(x, y, epochs=4, initial_epoch=2, validation_data=(x[:10], y[:10]), verbose=0)
    assert h.epoch == [2, 3]
    assert "val_loss" in h.history


def test_training_reduces_the_loss_and_learns():
    model = mlp()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    x, y = blobs(n=256)
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert loss < 0.5 * before
    assert acc > 0.95


def test_batch_callbacks_see_every_batch_and_can_stop():
    model = mlp()
    model.compile("sgd", "categorical_crossentropy")
    x, y = blobs(n=64)
    seen = []

    class Stopper(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, round(logs["loss"], 6) > 0))
            if batch == 2:
                self.model.stop_training = True

    model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[Stopper()])
    assert [b for b, _ in seen] == [0, 1, 2]
    assert model.optimizer.iterations == 3


def test_early_stopping_and_lambda_callback():
    model = mlp()
    model.compile("sgd", "categorical_crossentropy")
    x, y = blobs(n=64)
    epochs = []
    model.optimizer.learning_rate = 0.0            # nothing improves: stop after patience
    cb = EarlyStopping(monitor="loss", patience=1)
    h = model.fit(x, y, epochs=10, verbose=0, shuffle=False,
                  callbacks=[cb, LambdaCallback(on_epoch_end=lambda e, logs: epochs.append(e))])
    assert epochs == [0, 1] and h.epoch == [0, 1]


def test_same_seed_gives_bitwise_equal_weights():
    def train():
        model = mlp(seed=7, dropout=0.3)
        model.compile("adam", "categorical_crossentropy")
        x, y = blobs(n=100)
        model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=True)
        return model.get_weights()

    a, b = train(), train()
    for wa, wb in zip(a, b):
        assert np.array_equal(wa, wb)


def test_models_over_the_same_layers_share_weights_at_once():
    kcc.utils.set_random_seed(0)
    x = Input(shape=(8,))
    h = Dense(16, activation="relu")(x)
    y = Dense(3, activation="softmax")(h)
    trained = Model(x, y)
    features = Model(x, h)             # another model over the same layers
    xs, ys = blobs()
    before = features.predict(xs)
    trained.compile("adam", "categorical_crossentropy")
    trained.fit(xs, ys, epochs=2, verbose=0)
    after = features.predict(xs)       # no copy, no sync: the same buffers
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, np.maximum(xs @ trained.layers[1].get_weights()[0]
                                                 + trained.layers[1].get_weights()[1], 0), rtol=1e-5, atol=1e-5)


def test_set_weights_reaches_compiled_code_without_recompiling():
    model = mlp()
    model.compile("sgd", "categorical_crossentropy")
    x, _ = blobs(n=4)
    weights = [np.zeros_like(w) for w in model.get_weights()]
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x), np.full((4, 3), 1 / 3), rtol=1e-6)


def test_predict_without_compile_and_on_batch_apis():
    model = mlp()
    x, y = blobs(n=10)
    p = model.predict(x, batch_size=3)           # 3 + 3 + 3 + 1 rows
    np.testing.assert_allclose(p, model.predict_on_batch(x), rtol=1e-6)
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.test_on_batch(x, y)
    assert loss == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-6)
    train_loss, _ = model.train_on_batch(x, y)
    assert train_loss == pytest.approx(loss, rel=1e-5)   # the loss before the update
    assert model.optimizer.iterations == 1


def test_progress_output(capsys):
    model = mlp()
    model.compile("sgd", "categorical_crossentropy", metrics=["acc"])
    x, y = blobs(n=64)
    model.fit(x, y, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "64/64" in out and "loss:" in out and "acc:" in out
    model.fit(x, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert out.count("loss:") == 2 and "Epoch 1/2" in out and "Epoch 2/2" in out
    assert out.index("Epoch 1/2") < out.index("loss:") < out.index("Epoch 2/2")
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
