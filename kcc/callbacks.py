"""kcc.callbacks: Keras's callback names (the code lives in kcc/training/)."""

from kcc.training.callbacks import Callback, CallbackList, LambdaCallback, TerminateOnNaN
from kcc.training.epoch_callbacks import CSVLogger, LearningRateScheduler
from kcc.training.history import History
from kcc.training.monitor_callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau", "TerminateOnNaN"]
