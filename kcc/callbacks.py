"""kcc.callbacks: Keras's callback names (the code lives in kcc/training/)."""

from kcc.training.callbacks import (Callback, CallbackList, EarlyStopping, LambdaCallback,
                                    ModelCheckpoint, TerminateOnNaN)
from kcc.training.history import History

__all__ = ["Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "ModelCheckpoint", "TerminateOnNaN"]
