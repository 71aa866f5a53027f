"""W5: the guide's inception module (inference only), channels_first.

input (3, 256, 256);
tower_1 = Conv2D(64, 1x1, same, relu) -> Conv2D(64, 3x3, same, relu)
tower_2 = Conv2D(64, 1x1, same, relu) -> Conv2D(64, 5x5, same, relu)
tower_3 = MaxPooling2D(3x3, stride 1, same) -> Conv2D(64, 1x1, same, relu)
output = concat on channels -> (192, 256, 256)
"""
import common
from common import Infer

NAME = "W5"
SHAPE = (3, 256, 256)


TASKS = {"infer_b1": Infer(batch_size=1, warmup=3, calls_per_repeat=6)}
BUILD_TASKS = ()


def infer_data(task):
    import numpy as np
    rng = np.random.default_rng(common.SEED)
    return common.float_inputs((task.batch_size,) + SHAPE, rng)


# ---------------------------------------------------------------- kcc

def build_kcc():
    """As in the guide (Keras 1 spelling, channels_first input)."""
    from kcc.layers import Input, Convolution2D, MaxPooling2D, concatenate
    from kcc.models import Model

    input_img = Input(shape=SHAPE)
    tower_1 = Convolution2D(64, 1, 1, border_mode="same", activation="relu")(input_img)
    tower_1 = Convolution2D(64, 3, 3, border_mode="same", activation="relu")(tower_1)
    tower_2 = Convolution2D(64, 1, 1, border_mode="same", activation="relu")(input_img)
    tower_2 = Convolution2D(64, 5, 5, border_mode="same", activation="relu")(tower_2)
    tower_3 = MaxPooling2D((3, 3), strides=(1, 1), border_mode="same")(input_img)
    tower_3 = Convolution2D(64, 1, 1, border_mode="same", activation="relu")(tower_3)
    output = concatenate([tower_1, tower_2, tower_3], axis=1)
    return Model(input_img, output)


def compile_kcc(model):
    """Inference only, but kcc builds at compile(); any optimizer/loss will do."""
    model.compile(optimizer="rmsprop", loss="mse")


# ---------------------------------------------------------------- torch

def build_torch(channels_last=False):
    import torch
    from torch import nn

    class Inception(nn.Module):
        def __init__(self):
            super().__init__()
            c = SHAPE[0]
            self.t1 = nn.Sequential(nn.Conv2d(c, 64, 1), nn.ReLU(),
                                    nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())
            self.t2 = nn.Sequential(nn.Conv2d(c, 64, 1), nn.ReLU(),
                                    nn.Conv2d(64, 64, 5, padding=2), nn.ReLU())
            self.t3 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                    nn.Conv2d(c, 64, 1), nn.ReLU())

        def forward(self, x):
            return torch.cat([self.t1(x), self.t2(x), self.t3(x)], dim=1)

    model = Inception()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, None


def torch_arrays(xs):
    return xs


def torch_infer(model, xs):
    """The model's output as Keras gives it (no softmax here)."""
    return model(*xs)
