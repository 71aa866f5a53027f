"""Callbacks: Keras's hook protocol, the list fit() dispatches through, the standard ones.

The native loop runs whole epochs; it returns to Python once per epoch, and once per
batch only when ``CallbackList.needs_batch_hooks`` is True (some callback overrides a
train-batch hook). Epoch-level callbacks therefore cost nothing per batch.
"""

import math

_TRAIN_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin",
                      "on_train_batch_end")
_TEST_BATCH_HOOKS = ("on_test_batch_begin", "on_test_batch_end")
_PREDICT_BATCH_HOOKS = ("on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class. ``model`` and ``params`` are set by fit() before on_train_begin."""

    model = None
    params = None

    def __init__(self):
        self.model = None
        self.params = {}

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        """Keras 1/2 name of on_train_batch_begin (called by it)."""

    def on_batch_end(self, batch, logs=None):
        """Keras 1/2 name of on_train_batch_end (called by it)."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def _implements(self, hooks):
        """True when one of `hooks` is overridden (in a subclass or on the instance)."""
        return any(_overrides(self, hook) for hook in hooks)


def _overrides(callback, hook):
    method = getattr(callback, hook)
    return getattr(method, "__func__", method) is not getattr(Callback, hook)


class CallbackList:
    """Dispatches each hook to every callback, in order (History, when added, runs last)."""

    def __init__(self, callbacks=None, add_history=False, model=None, **params):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
            callbacks = [callbacks]
        self.callbacks = []
        for callback in callbacks:
            self.append(callback)
        self.history = None
        from kcc.training.history import History  # history.py imports Callback from here
        for callback in self.callbacks:
            if isinstance(callback, History):
                self.history = callback
        if add_history and self.history is None:
            self.history = History()
            self.callbacks.append(self.history)
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback):
        if not isinstance(callback, Callback):
            hint = (f"; did you mean {callback.__name__}()?"
                    if isinstance(callback, type) and issubclass(callback, Callback) else "")
            raise TypeError(f"`callbacks` must hold kcc.callbacks.Callback instances. Received: "
                            f"{callback!r} of type {type(callback).__name__}{hint}")
        self.callbacks.append(callback)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)

    def set_params(self, params):
        self.params = params
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model):
        self.model = model
        for callback in self.callbacks:
            callback.set_model(model)

    @property
    def needs_batch_hooks(self):
        """Whether the native loop must call on_train_batch_begin/end each batch."""
        return any(c._implements(_TRAIN_BATCH_HOOKS) for c in self.callbacks)

    @property
    def needs_test_batch_hooks(self):
        """Whether an evaluation must stop after each batch for on_test_batch_begin/end."""
        return any(c._implements(_TEST_BATCH_HOOKS) for c in self.callbacks)

    @property
    def needs_predict_batch_hooks(self):
        """Whether a prediction must stop after each batch for on_predict_batch_begin/end."""
        return any(c._implements(_PREDICT_BATCH_HOOKS) for c in self.callbacks)

    def _call(self, hook, *args):
        logs = {} if args[-1] is None else args[-1]
        for callback in self.callbacks:
            getattr(callback, hook)(*args[:-1], logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)


def _is_bad_number(value):
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and _is_bad_number(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``on_epoch_end=lambda epoch, logs: ...``,
    ``on_batch_end=lambda batch, logs: ...``, ``on_train_begin=lambda logs: ...``; any
    other hook name (on_train_batch_end, on_test_begin, ...) as a keyword too."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_batch_begin=on_batch_begin, on_batch_end=on_batch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end, **kwargs)
        for hook, fn in hooks.items():
            if not (hook.startswith("on_") and callable(getattr(Callback, hook, None))):
                raise ValueError(f"LambdaCallback got an unknown hook `{hook}`. Valid hooks: "
                                 f"{sorted(h for h in vars(Callback) if h.startswith('on_'))}")
            if fn is not None:
                setattr(self, hook, fn)
