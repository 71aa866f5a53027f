"""Callbacks with a fake model: dispatch, batch-hook detection, the standard callbacks."""

import math

import pytest

from kcc import callbacks
from kcc.callbacks import (Callback, CallbackList, EarlyStopping, History, LambdaCallback,
                           ModelCheckpoint, TerminateOnNaN)


class FakeModel:
    def __init__(self):
        self.stop_training = False
        self.weights = [0]
        self.saved = []

    def get_weights(self):
        return list(self.weights)

    def set_weights(self, weights):
        self.weights = list(weights)

    def save_weights(self, path):
        self.saved.append(path)

    save = save_weights     # ModelCheckpoint saves the whole model unless save_weights_only


def fit(callback_list, losses, key="val_loss", model=None):
    """Drive epoch hooks like the engine: weights become [epoch] each epoch."""
    model = model or FakeModel()
    callback_list = callback_list if isinstance(callback_list, CallbackList) \
        else CallbackList(callback_list, add_history=True, model=model)
    callback_list.set_model(model)
    callback_list.on_train_begin()
    for epoch, value in enumerate(losses):
        callback_list.on_epoch_begin(epoch)
        model.weights = [epoch]
        callback_list.on_epoch_end(epoch, {key: value})
        if model.stop_training:
            break
    callback_list.on_train_end()
    return model, epoch


def test_history_records_logs():
    model = FakeModel()
    history = History()
    cl = CallbackList([history], model=model, epochs=2, steps=10)
    assert cl.history is history and history.params == {"epochs": 2, "steps": 10}
    cl.on_train_begin()
    cl.on_epoch_end(0, {"loss": 1.0, "acc": 0.5})
    cl.on_epoch_end(1, {"loss": 0.5, "acc": 0.75})
    assert history.history == {"loss": [1.0, 0.5], "acc": [0.5, 0.75]}
    assert history.epoch == [0, 1]
    assert history.model is model and model.history is history


def test_callback_list_adds_history_last_and_checks_types():
    cl = CallbackList([TerminateOnNaN()], add_history=True)
    assert isinstance(cl.callbacks[-1], History) and len(cl) == 2
    with pytest.raises(TypeError, match=r"did you mean EarlyStopping\(\)"):
        CallbackList([EarlyStopping])


def test_keras_1_batch_alias_is_called():
    calls = []

    class Old(Callback):
        def on_batch_end(self, batch, logs=None):
            calls.append(("old", batch, logs["loss"]))

    class New(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            calls.append(("new", batch))

    cl = CallbackList([Old(), New()])
    assert cl.needs_batch_hooks
    cl.on_train_batch_begin(0, {})
    cl.on_train_batch_end(0, {"loss": 0.5})
    assert calls == [("new", 0), ("old", 0, 0.5)]


def test_needs_batch_hooks():
    class EpochOnly(Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    assert not CallbackList([]).needs_batch_hooks
    assert not CallbackList([EpochOnly(), History(), EarlyStopping()]).needs_batch_hooks
    assert not CallbackList([ModelCheckpoint("w.h5")]).needs_batch_hooks
    assert CallbackList([ModelCheckpoint("w.h5", save_freq=5)]).needs_batch_hooks
    assert CallbackList([TerminateOnNaN()]).needs_batch_hooks
    assert not CallbackList([LambdaCallback(on_epoch_end=print)]).needs_batch_hooks
    assert CallbackList([LambdaCallback(on_batch_begin=print)]).needs_batch_hooks
    assert CallbackList([LambdaCallback(on_train_batch_end=print)]).needs_batch_hooks


def test_lambda_callback():
    seen = []
    cb = LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                        on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])),
                        on_batch_end=lambda batch, logs: seen.append(("batch", batch)),
                        on_train_end=lambda logs: seen.append("end"))
    cl = CallbackList([cb])
    cl.on_train_begin()
    cl.on_train_batch_end(3, {"loss": 1.0})
    cl.on_epoch_end(0, {"loss": 0.25})
    cl.on_train_end()
    assert seen == ["begin", ("batch", 3), (0, 0.25), "end"]
    with pytest.raises(ValueError, match="unknown hook `on_epoch_ends`"):
        LambdaCallback(on_epoch_ends=print)


def test_terminate_on_nan(capsys):
    model = FakeModel()
    cl = CallbackList([TerminateOnNaN()], model=model)
    cl.on_train_batch_end(0, {"loss": 0.3})
    assert not model.stop_training
    cl.on_train_batch_end(7, {"loss": float("nan")})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 7: Invalid loss, terminating training\n"
    model.stop_training = False
    cl.on_train_batch_end(8, {"loss": math.inf})
    assert model.stop_training


def test_early_stopping_patience():
    # best at epoch 1; epochs 2 and 3 do not improve; patience 2 stops after epoch 3
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    model, last = fit([stopper], [1.0, 0.5, 0.6, 0.55, 0.1])
    assert model.stop_training and last == 3 and stopper.stopped_epoch == 3
    assert stopper.best == 0.5 and stopper.best_epoch == 1


def test_early_stopping_patience_zero_min_delta():
    stopper = EarlyStopping(monitor="loss", min_delta=0.1)
    _, last = fit([stopper], [1.0, 0.95, 0.5], key="loss")
    assert last == 1  # 0.95 is not 0.1 better than 1.0


def test_early_stopping_restores_best_weights(capsys):
    stopper = EarlyStopping(monitor="val_acc", patience=1, restore_best_weights=True, verbose=1)
    model, last = fit([stopper], [0.5, 0.9, 0.8, 0.95], key="val_acc")  # acc -> max
    assert last == 2 and model.weights == [1]
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out


def test_early_stopping_mode_inference():
    for monitor, high_is_better in [("val_acc", True), ("accuracy", True), ("val_loss", False),
                                    ("val_categorical_accuracy", True), ("mse", False),
                                    ("aux_output_loss", False), ("main_output_acc", True)]:
        stopper = EarlyStopping(monitor=monitor)
        stopper.set_model(FakeModel())
        stopper.on_train_begin()
        stopper.on_epoch_end(0, {monitor: 1.0})
        assert stopper.monitor_op(2.0, 1.0) is high_is_better, monitor
    stopper = EarlyStopping(monitor="f1")
    with pytest.raises(ValueError, match="mode='max'"):
        stopper.on_epoch_end(0, {"f1": 1.0})
    with pytest.warns(UserWarning, match="mode sideways is unknown"):
        EarlyStopping(mode="sideways")


def test_early_stopping_warns_when_key_missing():
    stopper = EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available.*are: loss"):
        model, last = fit([stopper], [1.0, 2.0, 3.0], key="loss")
    assert not model.stop_training and last == 2


def test_early_stopping_baseline_and_start_from_epoch():
    # Improvements that do not beat the baseline do not reset the wait.
    losses = [0.9, 0.8, 0.85, 0.85, 0.85]
    _, last = fit([EarlyStopping(monitor="loss", patience=2)], losses, key="loss")
    assert last == 3
    _, last = fit([EarlyStopping(monitor="loss", patience=2, baseline=0.5)], losses, key="loss")
    assert last == 2
    stopper = EarlyStopping(monitor="loss", patience=0, start_from_epoch=2)
    _, last = fit([stopper], [0.1, 0.9, 0.9, 0.95, 0.99], key="loss")
    assert last == 3  # epochs 0 and 1 are ignored


def test_model_checkpoint_formats_path(tmp_path):
    path = str(tmp_path / "ckpt" / "w.{epoch:02d}-{val_loss:.2f}.h5")
    model, _ = fit([ModelCheckpoint(path)], [0.5, 0.25])
    assert model.saved == [str(tmp_path / "ckpt" / "w.01-0.50.h5"),
                           str(tmp_path / "ckpt" / "w.02-0.25.h5")]
    assert (tmp_path / "ckpt").is_dir()


def test_model_checkpoint_save_best_only(tmp_path, capsys):
    path = str(tmp_path / "best.{epoch}.h5")
    model, _ = fit([ModelCheckpoint(path, save_best_only=True, verbose=1)], [0.5, 0.7, 0.4, 0.4])
    assert model.saved == [str(tmp_path / "best.1.h5"), str(tmp_path / "best.3.h5")]
    out = capsys.readouterr().out
    assert "Epoch 1: val_loss improved from None to 0.50000, saving model to" in out
    assert "Epoch 2: val_loss did not improve from 0.50000" in out
    model, _ = fit([ModelCheckpoint(path, monitor="val_acc", save_best_only=True)],
                   [0.5, 0.7, 0.4], key="val_acc")
    assert model.saved == [str(tmp_path / "best.1.h5"), str(tmp_path / "best.2.h5")]


def test_model_checkpoint_missing_key(tmp_path):
    """Keras 3 warns and saves anyway."""
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        model, _ = fit([ModelCheckpoint(str(tmp_path / "w.h5"), save_best_only=True)], [1.0],
                       key="loss")
    assert model.saved == [str(tmp_path / "w.h5")]
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        fit([ModelCheckpoint(str(tmp_path / "{val_acc}.h5"))], [1.0])


def test_model_checkpoint_save_freq_batches(tmp_path):
    model = FakeModel()
    cl = CallbackList([ModelCheckpoint(str(tmp_path / "w{epoch}-{batch}.h5"), save_freq=3)],
                      model=model)
    for epoch in range(2):
        cl.on_epoch_begin(epoch)
        for batch in range(4):
            cl.on_train_batch_end(batch, {"loss": 1.0})
        cl.on_epoch_end(epoch, {"loss": 1.0})
    names = [p.rsplit("/", 1)[-1] for p in model.saved]
    assert names == ["w1-3.h5", "w2-2.h5"]  # batches 3 and 6 of 8
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        ModelCheckpoint("w.h5", save_freq="batch")


def test_model_checkpoint_period(tmp_path):
    model, _ = fit([ModelCheckpoint(str(tmp_path / "{epoch}.h5"), period=2)], [1, 1, 1, 1])
    assert [p.rsplit("/", 1)[-1] for p in model.saved] == ["2.h5", "4.h5"]


def test_public_names():
    for name in ("Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint",
                 "TerminateOnNaN", "LambdaCallback"):
        assert hasattr(callbacks, name)
