"""kcc.callbacks: Keras's callback names (the code lives in kcc/training/)."""

from kcc.training.callbacks import Callback, CallbackList, LambdaCallback, TerminateOnNaN
from kcc.training.history import History
from kcc.training.monitor_callbacks import EarlyStopping, ModelCheckpoint

__all__ = ["Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "ModelCheckpoint", "TerminateOnNaN"]
