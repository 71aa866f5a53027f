"""The guide's shared vision model ("are these two digits the same digit?"), trained natively
on pairs of real handwritten digits.

    pip install ".[examples]"        # scikit-learn: example-only, it ships the digits
    python examples/shared_vision.py

The vision module is the guide's, as written: Convolution2D(64, 3, 3) twice, MaxPooling2D,
Flatten, on (1, 27, 27) images, one Model shared (weights and all) by both digits, and the
two codes concatenated with merge(mode='concat').

The data: the 1797 8x8 digits bundled with scikit-learn, upsampled to 27x27 (nearest
neighbour, see digits_data.py) and scaled to [0, 1], split 80/20 by image. Pairs are
balanced: half of them two images of the same digit, half two different digits. Training
pairs use only training images, test pairs only test images.

One change to the guide's head: the two codes are not concatenated raw. The guide's head,
Dense(1, activation='sigmoid') straight on concat(code_a, code_b), scores
sigmoid(f(a) + g(b)), one term per digit, so it cannot test two codes for equality: on
balanced pairs (each image as likely in a "same" pair as in a "different" one) it stays at
chance. Here a shared Dense(10, activation='softmax') turns each code into digit
probabilities, and a Dense(64, activation='relu') on their concatenation compares them.
(examples/shared_lstm.py hits the same limit of the guide's head.)

Step 1, not in the guide, trains the shared vision model and that Dense(10) as a digit
classifier on single images; step 2 freezes both and trains the head on pairs. A head on
the raw 2 x 7744-float codes reached only 0.86-0.91 depending on seed and pair count; on the
digit probabilities it reaches 0.965 (seed 0; 0.971 and 0.974 with seeds 1 and 2), in about
15 s on 2 cores.
"""
import time

import numpy as np

import kcc
from kcc.layers import merge, Convolution2D, MaxPooling2D, Input, Dense, Flatten
from kcc.models import Model

from digits_data import upsample  # examples/digits_data.py, next to this file

SIDE = 27
DIGIT_EPOCHS = 3
TRAIN_PAIRS, TEST_PAIRS, EPOCHS = 4000, 1000, 4

kcc.utils.set_random_seed(0)  # same seed (and thread count): same weights, same result


def load_digit_images(seed=0):
    """(x_train, y_train, x_test, y_test): (n, 1, 27, 27) float32 images in [0, 1], labels."""
    from sklearn.datasets import load_digits  # example-only dependency
    digits = load_digits()
    x = upsample(digits.images / 16.0, SIDE).astype(np.float32)[:, None]
    y = digits.target
    idx = np.random.default_rng(seed).permutation(len(x))
    n_test = len(x) // 5
    return x[idx[n_test:]], y[idx[n_test:]], x[idx[:n_test]], y[idx[:n_test]]


def make_pairs(x, y, n, rng):
    """n pairs, half of the same digit (label 1), half of two different digits (label 0)."""
    by_digit = [np.flatnonzero(y == d) for d in range(10)]
    a, b = np.empty(n, int), np.empty(n, int)
    same = np.arange(n) % 2 == 0
    for i in range(n):
        da = rng.integers(10)
        db = da if same[i] else (da + rng.integers(1, 10)) % 10
        a[i], b[i] = rng.choice(by_digit[da]), rng.choice(by_digit[db])
    order = rng.permutation(n)
    return x[a[order]], x[b[order]], same[order].astype(np.float32)[:, None]


x_train, y_train, x_test, y_test = load_digit_images()
rng = np.random.default_rng(0)
train_a, train_b, train_same = make_pairs(x_train, y_train, TRAIN_PAIRS, rng)
test_a, test_b, test_same = make_pairs(x_test, y_test, TEST_PAIRS, rng)
print(f"images: {len(x_train)} train, {len(x_test)} test, (1, {SIDE}, {SIDE}); "
      f"pairs: {TRAIN_PAIRS} train, {TEST_PAIRS} test, half same digit")

# first, define the vision modules
digit_input = Input(shape=(1, 27, 27))
x = Convolution2D(64, 3, 3)(digit_input)
x = Convolution2D(64, 3, 3)(x)
x = MaxPooling2D((2, 2))(x)
out = Flatten()(x)

vision_model = Model(digit_input, out)

# then define the tell-digits-apart model
digit_a = Input(shape=(1, 27, 27))
digit_b = Input(shape=(1, 27, 27))

# the vision model will be shared, weights and all
out_a = vision_model(digit_a)
out_b = vision_model(digit_b)

# not in the guide (see the docstring): a shared Dense(10, softmax) that step 1 trains as a
# digit classifier turns each code into digit probabilities, and the head compares those
digit_head = Dense(10, activation='softmax')
concatenated = merge([digit_head(out_a), digit_head(out_b)], mode='concat')
hidden = Dense(64, activation='relu')(concatenated)
out = Dense(1, activation='sigmoid')(hidden)

classification_model = Model([digit_a, digit_b], out)

# Step 1, not in the guide: teach the shared vision model what a digit is, on single images
# (a 10-way softmax on its code), so that the pair model starts from codes that tell digits
# apart. Training the pair model from scratch learns "same digit" far more slowly.
start = time.perf_counter()
digit_classifier = Model(digit_input, digit_head(vision_model.output))
digit_classifier.compile(optimizer='adam', loss='categorical_crossentropy',
                         metrics=['accuracy'])
digit_classifier.fit(x_train, np.eye(10, dtype=np.float32)[y_train], nb_epoch=DIGIT_EPOCHS,
                     batch_size=32, verbose=2)
_, digit_accuracy = digit_classifier.evaluate(x_test, np.eye(10, dtype=np.float32)[y_test],
                                              verbose=0)
print(f"step 1: vision model + softmax, test digit accuracy {digit_accuracy:.4f} "
      f"({time.perf_counter() - start:.1f} s)")

# Step 2: the guide's pair model, sharing those weights (frozen now: only the head learns,
# and a step skips the convolutions' backward pass), trained on pairs.
vision_model.trainable = False
digit_head.trainable = False
classification_model.compile(optimizer='adam', loss='binary_crossentropy',
                             metrics=['accuracy'])
print(f"parameters: {classification_model.count_params()}")

start = time.perf_counter()
classification_model.fit([train_a, train_b], train_same, nb_epoch=EPOCHS, batch_size=32,
                         validation_data=([test_a, test_b], test_same), verbose=2)
seconds = time.perf_counter() - start
print(f"step 2: trained {EPOCHS} epochs x {TRAIN_PAIRS} pairs in {seconds:.1f} s "
      f"({EPOCHS * TRAIN_PAIRS / seconds:.0f} pairs/s, compile included)")

loss, accuracy = classification_model.evaluate([test_a, test_b], test_same, verbose=0)
print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")
