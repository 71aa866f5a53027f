"""W6: the guide's visual question answering model (inference only), channels_first.

vision Sequential on (3, 224, 224): 2 x Conv2D(64) -> pool -> 2 x Conv2D(128) -> pool
  -> 3 x Conv2D(256) -> pool -> Flatten (160000,);
question: 100 ids in [0, 10000) -> Embedding(10000, 256) -> LSTM(256);
output = Dense(1000, softmax)(concat[question, image]) (160256 -> 1000).
"""
import common
from common import Infer

NAME = "W6"
SHAPE = (3, 224, 224)
VOCAB, LENGTH, EMBED, UNITS, ANSWERS = 10000, 100, 256, 256, 1000


TASKS = {"infer_b1": Infer(batch_size=1, warmup=2, calls_per_repeat=4)}
BUILD_TASKS = ()


def infer_data(task):
    """[image (b, 3, 224, 224) float32, question ids (b, 100) int32] (the model's input order)."""
    import numpy as np
    rng = np.random.default_rng(common.SEED)
    image = common.float_inputs((task.batch_size,) + SHAPE, rng)
    ids = rng.integers(0, VOCAB, (task.batch_size, LENGTH)).astype(np.int32)
    return [image, ids]


# ---------------------------------------------------------------- kcc

def build_kcc():
    """As in the guide: a vision Sequential (Keras 1 spelling) inside a functional model."""
    from kcc.layers import (Input, Convolution2D, MaxPooling2D, Flatten, Embedding, LSTM,
                            Dense, concatenate)
    from kcc.models import Model, Sequential

    vision_model = Sequential()
    vision_model.add(Convolution2D(64, 3, 3, activation="relu", border_mode="same",
                                   input_shape=SHAPE))
    vision_model.add(Convolution2D(64, 3, 3, activation="relu"))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Convolution2D(128, 3, 3, activation="relu", border_mode="same"))
    vision_model.add(Convolution2D(128, 3, 3, activation="relu"))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Convolution2D(256, 3, 3, activation="relu", border_mode="same"))
    vision_model.add(Convolution2D(256, 3, 3, activation="relu"))
    vision_model.add(Convolution2D(256, 3, 3, activation="relu"))
    vision_model.add(MaxPooling2D((2, 2)))
    vision_model.add(Flatten())

    image_input = Input(shape=SHAPE)
    encoded_image = vision_model(image_input)

    question_input = Input(shape=(LENGTH,), dtype="int32")
    embedded_question = Embedding(input_dim=VOCAB, output_dim=EMBED,
                                  input_length=LENGTH)(question_input)
    encoded_question = LSTM(UNITS)(embedded_question)

    merged = concatenate([encoded_question, encoded_image])
    output = Dense(ANSWERS, activation="softmax")(merged)
    return Model(inputs=[image_input, question_input], outputs=output)


def compile_kcc(model):
    """Inference only, but kcc builds at compile(); any optimizer/loss will do."""
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")


# ---------------------------------------------------------------- torch

def build_torch(channels_last=False):
    import torch
    from torch import nn

    def conv(cin, cout, same):
        return [nn.Conv2d(cin, cout, 3, padding=1 if same else 0), nn.ReLU()]

    class VQA(nn.Module):
        def __init__(self):
            super().__init__()
            self.vision = nn.Sequential(
                *conv(SHAPE[0], 64, True), *conv(64, 64, False), nn.MaxPool2d(2),
                *conv(64, 128, True), *conv(128, 128, False), nn.MaxPool2d(2),
                *conv(128, 256, True), *conv(256, 256, False), *conv(256, 256, False),
                nn.MaxPool2d(2), nn.Flatten())
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, UNITS, batch_first=True)
            self.out = nn.Linear(UNITS + 256 * 25 * 25, ANSWERS)

        def forward(self, image, ids):
            _, (h, _) = self.lstm(self.embed(ids))
            v = self.vision(image)  # Flatten is in (C, H, W) order in either memory format
            return self.out(torch.cat([h[-1], v], dim=1))

    model = VQA()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, None


def torch_arrays(xs):
    import numpy as np
    return [xs[0], xs[1].astype(np.int64)]      # torch embeddings take int64 ids


def torch_infer(model, xs):
    """The model's output is the softmax over answers."""
    import torch
    return torch.softmax(model(*xs), dim=-1)
