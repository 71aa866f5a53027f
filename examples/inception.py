"""The guide's inception module on a (3, 256, 256) image: build, predict, time it.

    python examples/inception.py
"""
import time

import numpy as np

import kcc
from kcc.layers import merge, Convolution2D, MaxPooling2D, Input
from kcc.models import Model

kcc.utils.set_random_seed(0)

input_img = Input(shape=(3, 256, 256))

tower_1 = Convolution2D(64, 1, 1, border_mode='same', activation='relu')(input_img)
tower_1 = Convolution2D(64, 3, 3, border_mode='same', activation='relu')(tower_1)

tower_2 = Convolution2D(64, 1, 1, border_mode='same', activation='relu')(input_img)
tower_2 = Convolution2D(64, 5, 5, border_mode='same', activation='relu')(tower_2)

tower_3 = MaxPooling2D((3, 3), strides=(1, 1), border_mode='same')(input_img)
tower_3 = Convolution2D(64, 1, 1, border_mode='same', activation='relu')(tower_3)

output = merge([tower_1, tower_2, tower_3], mode='concat', concat_axis=1)

model = Model(input_img, output)
print(f"output tensor shape {output.shape}, {model.count_params()} parameters")
image = np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)
start = time.perf_counter()
y = model.predict(image)                     # the first call compiles the model
print(f"predicted {y.shape} (first call, compile included: {time.perf_counter() - start:.1f} s)")
times = []
for _ in range(5):
    start = time.perf_counter()
    model.predict(image)
    times.append(time.perf_counter() - start)
print(f"median predict latency, one image, 5 calls: {1000 * np.median(times):.1f} ms")
