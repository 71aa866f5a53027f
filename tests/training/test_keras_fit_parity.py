"""fit()'s behaviour around the numbers, against Keras 3 (torch backend) where it is
installed: which arguments fit takes, when it validates, what a stopped epoch logs, what
recompiling keeps, what a checkpoint holds, how sample and class weights weigh the loss."""
import os

import numpy as np
import pytest

import kcc
from kcc.callbacks import Callback, ModelCheckpoint
from kcc.models import Model


def _keras():
    """Keras 3 on the torch backend, or skip (the reference, not a dependency)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _build(L, Model):
    x = L.Input(shape=(4,), name="x")
    h = L.Dense(5, activation="tanh", name="h")(x)
    return Model(x, L.Dense(3, activation="softmax", name="out")(h))


def _pair(keras):
    """The same model in kcc and in Keras, with kcc's initial weights in both."""
    ours, theirs = _build(kcc.layers, Model), _build(keras.layers, keras.Model)
    for name in ("h", "out"):
        theirs.get_layer(name).set_weights(ours.get_layer(name).get_weights())
    return ours, theirs


def _data(n=10):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]


def _same(ours, theirs):
    assert set(ours) == set(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-4, atol=1e-6, err_msg=key)


def _after_batch(base, when, action):
    """A callback (of kcc's or Keras's `base` class) that runs action(model) after batch `when`."""
    class After(base):
        def on_train_batch_end(self, batch, logs=None):
            if batch == when:
                action(self.model)
    return After()


def _stop(model):
    model.stop_training = True


def _freeze(model):
    model.optimizer.learning_rate = 0.0


def _compiled():
    model = _build(kcc.layers, Model)
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_takes_keras_arguments_at_their_unused_values():
    """Code that forwards every fit() argument passes sample_weight=None and the like: they
    are accepted; a value kcc cannot honour is refused by name."""
    x, y = _data()
    model = _compiled()
    h = model.fit(x, y, epochs=1, verbose=0, sample_weight=None, class_weight=None,
                  steps_per_epoch=None, validation_steps=None, validation_freq=1,
                  max_queue_size=10, workers=1, use_multiprocessing=False)
    assert list(h.history) == ["accuracy", "loss"]
    assert model.evaluate(x, y, verbose=0, sample_weight=None) == pytest.approx(
        model.evaluate(x, y, verbose=0))
    with pytest.raises(ValueError, match="`steps_per_epoch` must be a positive integer.*steps_per_epoch=0"):
        model.fit(x, y, verbose=0, steps_per_epoch=0)
    with pytest.raises(ValueError, match="`validation_freq` must be"):
        model.fit(x, y, verbose=0, validation_split=0.2, validation_freq=0)
    with pytest.raises(TypeError, match="unexpected keyword argument.*'nonsense'"):
        model.fit(x, y, verbose=0, nonsense=1)


def test_validation_freq_and_steps_as_keras():
    keras = _keras()
    x, y = _data(12)
    ours, theirs = _pair(keras)
    for m in (ours, theirs):
        m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    kw = dict(batch_size=4, epochs=4, shuffle=False, verbose=0, validation_data=(x[:7], y[:7]),
              validation_batch_size=2, validation_steps=2)
    for freq in (2, [1, 4]):
        _same(ours.fit(x, y, validation_freq=freq, **kw).history,
              theirs.fit(x, y, validation_freq=freq, **kw).history)
    assert len(ours.history.history["val_loss"]) == 2


def test_an_epoch_stopped_by_a_batch_callback_is_still_validated():
    """Keras validates the epoch a callback stopped, so its on_epoch_end (EarlyStopping,
    ModelCheckpoint on val_loss) sees val_* logs; kcc skipped them."""
    keras = _keras()
    x, y = _data()
    ours, theirs = _pair(keras)

    hist = []
    for m, base in ((ours, Callback), (theirs, keras.callbacks.Callback)):
        m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
        hist.append(m.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0,
                          validation_split=0.2, callbacks=[_after_batch(base, 1, _stop)]))
    assert hist[0].epoch == hist[1].epoch == [0]
    _same(hist[0].history, hist[1].history)


def test_recompiling_with_the_models_optimizer_keeps_its_state():
    """In Keras the slots and iterations belong to the optimizer object: compile() again
    with model.optimizer (to change the loss or metrics) goes on from them."""
    keras = _keras()
    x, y = _data()
    ours, theirs = _pair(keras)
    ours.compile(optimizer=kcc.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy")
    theirs.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy")
    losses = []
    for m in (ours, theirs):
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        m.compile(optimizer=m.optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
        assert int(m.optimizer.iterations) == 6
        losses.append(m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history)
    _same(*losses)
    # a new optimizer starts from scratch
    ours.compile(optimizer="adam", loss="categorical_crossentropy")
    assert ours.optimizer.iterations == 0


def test_batch_begin_logs_the_rows_of_the_batch():
    x, y = _data()
    model = _compiled()
    sizes = []

    class Sizes(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            sizes.append(logs["size"])

    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Sizes()])
    assert sizes == [4, 4, 2]


def test_model_checkpoint_saves_the_whole_model_unless_weights_only(tmp_path):
    """Keras's ModelCheckpoint saves the model (load_model reads it back) unless
    save_weights_only=True; kcc wrote a weights file either way."""
    x, y = _data()
    model = _compiled()
    whole = str(tmp_path / "m.{epoch:02d}.kcc")
    weights = str(tmp_path / "w.{epoch:02d}.weights")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        ModelCheckpoint(whole), ModelCheckpoint(weights, save_weights_only=True)])
    loaded = kcc.models.load_model(str(tmp_path / "m.02.kcc"))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    with pytest.raises(ValueError, match="weights file"):
        kcc.models.load_model(str(tmp_path / "w.02.weights"))
    fresh = _build(kcc.layers, Model)
    fresh.load_weights(str(tmp_path / "w.01.weights"))


def _fit_sgd(M, model, callbacks):
    model.compile(optimizer=M.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = _data()
    return model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0, validation_split=0.3,
                     callbacks=callbacks).history


@pytest.mark.parametrize("name,kwargs", [
    ("LearningRateScheduler", dict(schedule=lambda epoch, lr: lr * 0.5 if epoch % 2 else lr)),
    ("LearningRateScheduler", dict(schedule=lambda epoch: 0.1 / (epoch + 1))),   # Keras 1's form
    ("ReduceLROnPlateau", dict(monitor="loss", patience=0, factor=0.2, cooldown=1, min_lr=0.01,
                               min_delta=1.0)),
    ("ReduceLROnPlateau", dict(monitor="val_accuracy", mode="max", patience=1, min_delta=0.5)),
])
def test_learning_rate_callbacks_as_keras(name, kwargs):
    """The learning rate each epoch trains with, and the losses and the logged
    learning_rate that follow from it, are Keras's."""
    keras = _keras()
    ours, theirs = _pair(keras)
    got = _fit_sgd(kcc, ours, [getattr(kcc.callbacks, name)(**kwargs)])
    want = _fit_sgd(keras, theirs, [getattr(keras.callbacks, name)(**kwargs)])
    _same(got, want)
    assert len(set(got["learning_rate"])) > 1


def test_csv_logger_as_keras(tmp_path):
    keras = _keras()
    ours, theirs = _pair(keras)
    for append in (False, True):
        _fit_sgd(kcc, ours, [kcc.callbacks.CSVLogger(tmp_path / "ours.csv", append=append)])
        _fit_sgd(keras, theirs, [keras.callbacks.CSVLogger(str(tmp_path / "keras.csv"), append=append)])
    got = (tmp_path / "ours.csv").read_text().splitlines()
    want = (tmp_path / "keras.csv").read_text().splitlines()
    assert got[0] == want[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert len(got) == len(want) == 11          # one header, two fits of five epochs
    np.testing.assert_allclose([[float(v) for v in row.split(",")] for row in got[1:]],
                               [[float(v) for v in row.split(",")] for row in want[1:]], rtol=1e-4)


def test_a_learning_rate_set_in_a_batch_callback_trains_the_next_batch():
    """Keras reads the learning rate each step; kcc handed it over once an epoch, so a
    change in on_train_batch_end waited for the next epoch."""
    keras = _keras()
    x, y = _data()
    ours, theirs = _pair(keras)

    for m, base in ((ours, Callback), (theirs, keras.callbacks.Callback)):
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
        m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[_after_batch(base, 0, _freeze)])
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-7)


# -- sample_weight and class_weight ------------------------------------------------------------

def _weights(n=10, seed=1):
    return np.random.default_rng(seed).uniform(0.1, 3.0, n).astype(np.float32)


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy", "mse"])
def test_sample_weight_weighs_the_loss_and_its_gradient_as_keras(loss):
    """Keras 3 multiplies each sample's loss by its weight and divides by the batch size
    (not the weights' sum); metrics stay unweighted. History, the weights after two epochs
    of SGD over uneven batches, evaluate and the *_on_batch calls all agree."""
    keras = _keras()
    x, y = _data(21)
    if loss.startswith("sparse"):
        y = np.argmax(y, axis=1)
    sw = _weights(21)
    ours, theirs = _pair(keras)
    ours.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss, metrics=["accuracy"])
    h = [m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=sw).history
         for m in (ours, theirs)]
    _same(*h)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.evaluate(x, y, sample_weight=sw, verbose=0),
                               theirs.evaluate(x, y, sample_weight=sw, verbose=0), rtol=1e-5)
    assert ours.evaluate(x, y, sample_weight=sw, verbose=0)[0] != pytest.approx(ours.evaluate(x, y, verbose=0)[0])
    np.testing.assert_allclose(ours.test_on_batch(x, y, sample_weight=sw),
                               theirs.test_on_batch(x, y, sample_weight=sw), rtol=1e-5)
    np.testing.assert_allclose(ours.train_on_batch(x, y, sample_weight=sw),
                               theirs.train_on_batch(x, y, sample_weight=sw), rtol=1e-5)


@pytest.mark.parametrize("sparse", [False, True])
def test_class_weight_as_keras(sparse):
    """class_weight weighs each sample by its class: the argmax of a one-hot row, or the id."""
    keras = _keras()
    x, y = _data(21)
    if sparse:
        y = np.argmax(y, axis=1)
    loss = "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy"
    ours, theirs = _pair(keras)
    ours.compile(optimizer="sgd", loss=loss)
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    cw = {0: 0.5, 1: 4.0}     # class 2 unlisted: weight 1
    h = [m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, class_weight=cw,
               validation_split=0.25).history for m in (ours, theirs)]
    _same(*h)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_validation_data_with_weights_and_validation_split_of_weights_as_keras():
    keras = _keras()
    x, y = _data(20)
    sw = _weights(20)
    ours, theirs = _pair(keras)
    for m, opt in ((ours, "sgd"), (theirs, keras.optimizers.SGD(0.01))):
        m.compile(optimizer=opt, loss="categorical_crossentropy")
    h = [m.fit(x[:12], y[:12], batch_size=4, epochs=2, shuffle=False, verbose=0,
               validation_data=(x[12:], y[12:], sw[12:])).history for m in (ours, theirs)]
    _same(*h)
    h = [m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, sample_weight=sw,
               validation_split=0.3).history for m in (ours, theirs)]
    _same(*h)


def test_sample_weights_per_output_of_a_sequence_output_as_keras():
    """One weight per sample and output, a list in output order: it weighs every timestep of
    a per-timestep loss (the targets' rows of a sample) and the loss_weights still apply."""
    keras = _keras()

    def build(L, M):
        inp = L.Input(shape=(5, 3), name="seq")
        h = L.LSTM(6, return_sequences=True, name="lstm")(inp)
        tags = L.TimeDistributed(L.Dense(4, activation="softmax"), name="tags")(h)
        flag = L.Dense(1, activation="sigmoid", name="flag")(L.LSTM(4, name="lstm2")(h))
        return M(inp, [tags, flag])
    ours, theirs = build(kcc.layers, Model), build(keras.layers, keras.Model)
    theirs.set_weights(ours.get_weights())
    losses = ["sparse_categorical_crossentropy", "binary_crossentropy"]
    ours.compile(optimizer="sgd", loss=losses, loss_weights=[1.0, 0.5])
    theirs.compile(optimizer=keras.optimizers.SGD(0.01), loss=losses, loss_weights=[1.0, 0.5])
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 5, 3)).astype(np.float32)
    y = [rng.integers(0, 4, (20, 5)), rng.integers(0, 2, (20, 1)).astype(np.float32)]
    sw = [_weights(20, 3)[:, None], _weights(20, 4)[:, None]]
    h = [m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, sample_weight=sw).history
         for m in (ours, theirs)]
    _same(*h)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_one_weight_array_weighs_every_output_and_dicts_name_them():
    """Without Keras: one array for a multi-output model weighs each output; a dict names
    outputs, a missing or None entry weighs 1; zero weights leave that sample out."""
    from kcc.layers import Dense, Input
    x, y = _data(12)
    inp = Input(shape=(4,))
    model = Model(inp, [Dense(3, activation="softmax", name="a")(inp), Dense(2, name="b")(inp)])
    model.compile(optimizer="sgd", loss=["categorical_crossentropy", "mse"])
    yb = x[:, :2]
    sw = _weights(12)
    both = model.evaluate(x, [y, yb], sample_weight=sw, verbose=0)
    listed = model.evaluate(x, [y, yb], sample_weight=[sw, sw], verbose=0)
    assert both == pytest.approx(listed)
    only_a = model.evaluate(x, [y, yb], sample_weight={"a": sw}, verbose=0)
    plain = model.evaluate(x, [y, yb], verbose=0)
    assert only_a[1] == pytest.approx(listed[1]) and only_a[2] == pytest.approx(plain[2])
    half = np.r_[np.ones(6), np.zeros(6)].astype(np.float32)
    first = model.evaluate(x[:6], [y[:6], yb[:6]], verbose=0)
    assert model.evaluate(x, [y, yb], sample_weight=half, verbose=0)[0] == pytest.approx(first[0] / 2)


def test_bad_weights_are_clear_errors():
    x, y = _data(10)
    model = _compiled()
    with pytest.raises(ValueError, match=r"`sample_weight` for output 'out' must hold one weight per "
                                         r"sample, shape \(10,\); received shape \(9,\)"):
        model.fit(x, y, verbose=0, sample_weight=np.ones(9))
    with pytest.raises(ValueError, match="non-finite"):
        model.evaluate(x, y, verbose=0, sample_weight=np.r_[np.ones(9), np.nan])
    with pytest.raises(ValueError, match="either `sample_weight` or `class_weight`"):
        model.fit(x, y, verbose=0, sample_weight=np.ones(10), class_weight={0: 2.0})
    with pytest.raises(ValueError, match="`class_weight` must be a dict"):
        model.fit(x, y, verbose=0, class_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"validation_data\[2\]"):
        model.fit(x, y, verbose=0, validation_data=(x, y, np.ones(3)))
    from kcc.layers import Dense, Input
    inp = Input(shape=(4,))
    two = Model(inp, [Dense(3, activation="softmax")(inp), Dense(1)(inp)])
    two.compile(optimizer="sgd", loss=["categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match="`class_weight` is only supported for models with a single output"):
        two.fit(x, [y, x[:, :1]], verbose=0, class_weight={0: 2.0})
