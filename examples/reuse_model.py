"""All models are callable, just like layers: the guide's first model, trained briefly on
real digits, then reused, weights and all, on a new Input and on every frame of a
"video" through TimeDistributed.

    pip install ".[examples]"        # scikit-learn: example-only, it ships the digits
    python examples/reuse_model.py

The digits are scikit-learn's 8x8 images upsampled to 28x28 = 784 pixels (digits_data.py).
A "video" here is 20 test digits in a row, shape (20, 784). The video model is the image
model applied at each of the 20 timesteps, so its predictions must equal the image model's
on each frame; the script checks that, and prints the largest difference.
"""
import numpy as np

import kcc
from kcc.layers import Input, Dense, TimeDistributed
from kcc.models import Model

from digits_data import load_digits_784  # examples/digits_data.py, next to this file

kcc.utils.set_random_seed(0)
x_train, y_train, x_test, y_test = load_digits_784(seed=0)

# ---- the guide's first model, trained briefly -------------------------------------------------
inputs = Input(shape=(784,))
x = Dense(64, activation='relu')(inputs)
x = Dense(64, activation='relu')(x)
predictions = Dense(10, activation='softmax')(x)
model = Model(input=inputs, output=predictions)
model.compile(optimizer='rmsprop',
              loss='categorical_crossentropy',
              metrics=['accuracy'])
model.fit(x_train, y_train, nb_epoch=10, batch_size=32, verbose=0)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"image model: test accuracy {accuracy:.4f}")

# ---- "All models are callable, just like layers" (the guide's code) -------------------------
x = Input(shape=(784,))
# this works, and returns the 10-way softmax we defined above.
y = model(x)
print(f"y = model(x): shape {y.shape}")

# input tensor for sequences of 20 timesteps,
# each containing a 784-dimensional vector
input_sequences = Input(shape=(20, 784))

# this applies our previous model to every timestep in the input sequences.
# the output of the previous model was a 10-way softmax,
# so the output of the layer below will be a sequence of 20 vectors of size 10.
processed_sequences = TimeDistributed(model)(input_sequences)
print(f"processed_sequences = TimeDistributed(model)(input_sequences): "
      f"shape {processed_sequences.shape}")

# ---- using them -----------------------------------------------------------------------------
reused = Model(x, y)                       # the same weights, through a new input
difference = np.abs(reused.predict(x_test) - model.predict(x_test)).max()
print(f"reused model vs model on the test images: max difference {difference:.3g}")

videos = x_test[:17 * 20].reshape(17, 20, 784)       # 17 "videos" of 20 frames
video_model = Model(input_sequences, processed_sequences)
per_frame = video_model.predict(videos)
print(f"videos {videos.shape} -> predictions {per_frame.shape}")
expected = np.stack([model.predict(videos[:, t]) for t in range(20)], axis=1)
difference = np.abs(per_frame - expected).max()
print(f"video model vs model at each of the 20 timesteps: max difference {difference:.3g}")
assert difference < 1e-5, "TimeDistributed(model) must be the model at every timestep"
frame_labels = y_test[:17 * 20].argmax(axis=1).reshape(17, 20)
print(f"video model: frame accuracy {np.mean(per_frame.argmax(axis=2) == frame_labels):.4f}")

# training the image model again moves the video model too: one set of weights
model.fit(x_train, y_train, nb_epoch=1, batch_size=32, verbose=0)
moved = np.abs(video_model.predict(videos) - per_frame).max()
print(f"after one more epoch of the image model, the video model moved by {moved:.3g}")
