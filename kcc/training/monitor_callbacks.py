"""The callbacks that watch a monitored quantity: EarlyStopping, ReduceLROnPlateau and
ModelCheckpoint."""

import math
import os
import warnings

import numpy as np

from kcc.training.callbacks import Callback

def _check_mode(owner, mode):
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode {mode} is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode


def _by_name(name):
    """kcc's rule when there is no compiled model to ask (callbacks driven by hand): the
    direction the name says, None when it does not."""
    if name.endswith(("_loss", "mean_squared_error", "mean_absolute_error", "mse", "mae")):
        return "min"
    if name.endswith(("acc", "accuracy", "auc")):
        return "max"
    return None


def _metric_direction(canonical):
    from kcc import metrics     # Keras 3's metric._direction
    return "max" if metrics.base_name(canonical) in metrics.UP else "min"


def _direction(model, monitor):
    """'min' or 'max' for `monitor` in auto mode, as Keras 3 (MonitorCallback): 'loss' (or
    'val_loss') is minimized; a compiled metric whose own name (as given to compile, or
    a metric object's name) is the monitor without 'val_' goes its way (accuracies up,
    mse / mae down). Where Keras 3 cannot tell, kcc also reads the model's other log keys
    ('<output>_loss', '<output>_<metric>', 'weighted_<metric>'). None: unknown."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss":
        return "min"
    cfg = getattr(model, "_compile_config", None)
    native = getattr(model, "_native", None)
    if cfg is None or native is None:
        return _by_name(name)
    found = {}
    keys = native.stat_names
    for k, loss in enumerate(native.graph.losses):
        if len(native.graph.losses) > 1:
            found[keys[1 + k]] = "min"
        for (_, canonical), i in zip(loss.metrics + loss.weighted_metrics,
                                     loss.metric_stats + loss.weighted_stats):
            found[keys[i]] = _metric_direction(canonical)
    for per_output in (*cfg.metrics, *cfg.weighted_metrics):   # Keras's own rule wins
        for display, canonical in per_output:
            found[display] = _metric_direction(canonical)
    return found.get(name)


class _Monitor(Callback):
    """What EarlyStopping, ReduceLROnPlateau and ModelCheckpoint share (Keras 3's
    MonitorCallback): the direction of ``monitor`` (from ``mode``, or in auto mode from the
    compiled metrics, _direction), and improvement by ``min_delta``."""

    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        self.monitor = monitor
        self.mode = _check_mode(type(self).__name__, mode)
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        mode = self.mode if self.mode != "auto" else _direction(self.model, self.monitor)
        if mode is None:
            raise ValueError(f"{type(self).__name__} callback received monitor={self.monitor}, but "
                             f"kcc isn't able to automatically determine whether that metric "
                             f"should be maximized or minimized. Pass `mode='max'` in order to "
                             f"monitor based on the highest metric value, or pass `mode='min'` "
                             f"in order to use the lowest value.")
        self.monitor_op = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
        self._delta = self.min_delta if mode == "max" else -self.min_delta
        return mode

    def _is_improvement(self, value, reference):
        return reference is None or self.monitor_op(value - self._delta, reference)


class EarlyStopping(_Monitor):
    """Stops training when ``monitor`` has not improved by ``min_delta`` for ``patience``
    epochs; optionally restores the weights of the best epoch when training ends."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _set_monitor_op(self):
        self.best = -math.inf if super()._set_monitor_op() == "max" else math.inf

    def on_train_begin(self, logs=None):
        self._reset()
        self.monitor_op = None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:   # as Keras: an unknown direction fails first
            self._set_monitor_op()
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # first monitored epoch: best so far
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0  # restart only when both the best and the baseline are beaten
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(_Monitor):
    """Multiplies the learning rate by ``factor`` (not below ``min_lr``) when ``monitor`` has
    not improved by ``min_delta`` for ``patience`` epochs, then waits ``cooldown`` epochs;
    logs the learning rate as ``learning_rate``. Keras 3's rule, step for step."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, kwargs.pop("epsilon", min_delta))   # Keras 1/2: epsilon
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau got unexpected keyword argument(s) {sorted(kwargs)}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. "
                             f"Received factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self._reset()

    def _reset(self):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = {} if logs is None else logs
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(np.float32(optimizer.learning_rate))
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` "
                          f"which is not available. Available metrics are: {','.join(logs)}.",
                          stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            old_lr = logs["learning_rate"]
            if self.wait >= self.patience and old_lr > np.float32(self.min_lr):
                new_lr = max(old_lr * self.factor, self.min_lr)
                optimizer.learning_rate = new_lr
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                          f"{new_lr}.")
                self.cooldown_counter = self.cooldown
                self.wait = 0


class ModelCheckpoint(_Monitor):
    """Saves weights to ``filepath`` (formatted with ``epoch`` (1-based), ``batch`` and the
    logs, e.g. 'w.{epoch:02d}-{val_loss:.2f}.h5') every epoch, every ``save_freq`` batches,
    or only when ``monitor`` improves (``save_best_only``): the whole model (``model.save``,
    which kcc.models.load_model reads back), or with ``save_weights_only=True`` its weights
    (``model.save_weights``)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None, period=1):
        super().__init__(monitor, mode, 0)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.period = period  # Keras 1/2: save every `period` epochs
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)
                                     or save_freq <= 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are "
                             f"'epoch' or positive integer values")
        self.best = initial_value_threshold   # None: the first value is an improvement
        self._current_epoch = 0
        self._epochs_since_last_save = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0

    def _implements(self, hooks):
        # its train-batch hook saves only with an integer save_freq
        if "on_train_batch_end" in hooks:
            return self.save_freq != "epoch"
        return super()._implements(hooks)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:   # as Keras 3: set up (or fail) after the first epoch
            self._set_monitor_op()
        if self.save_freq != "epoch":
            return
        self._epochs_since_last_save += 1
        if self._epochs_since_last_save >= self.period:
            self._epochs_since_last_save = 0
            self._save_model(epoch, None, logs or {})

    def _should_save_on_batch(self, batch):
        """Counts batches even when the loop reports only some of them."""
        if self.save_freq == "epoch":
            return False
        if batch <= self._last_batch_seen:  # a new epoch started
            added = batch + 1
        else:
            added = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += added
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {e}. Available keys: epoch, batch, {', '.join(logs)}") \
                from None

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        current = logs.get(self.monitor) if self.save_best_only else None
        if self.save_best_only and current is None:   # Keras 3 saves, warning
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=2)
        elif self.save_best_only:
            if self.monitor_op is None:
                self._set_monitor_op()
            best = "None" if self.best is None else f"{self.best:.5f}"
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)
