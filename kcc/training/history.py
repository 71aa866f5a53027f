"""History: the callback fit() always adds and returns; it records each epoch's logs."""

from kcc.training.callbacks import Callback


class History(Callback):
    """``history.history['loss']`` is a list with one value per epoch; ``history.epoch``
    lists the epoch indices (0-based) that ran; ``params`` and ``model`` as set by fit."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"
