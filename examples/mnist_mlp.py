"""The guide's first model, trained on real handwritten digits, then used to predict.

    pip install ".[examples]"        # scikit-learn: example-only, it ships the digits
    python examples/mnist_mlp.py

The model and its compile call are the guide's, word for word (Keras 1 spelling, with
`keras` replaced by `kcc`). The data are the 1797 8x8 digit images that ship inside
scikit-learn, upsampled to MNIST's 28x28 = 784 pixels (see digits_data.py), so the
example runs offline. Expect a test accuracy of about 0.97 (0.95-0.98 over random
seeds) in a few seconds.
"""

import kcc
from kcc.layers import Input, Dense
from kcc.models import Model

from digits_data import load_digits_784  # examples/digits_data.py, next to this file

kcc.utils.set_random_seed(0)  # same seed (and thread count): same weights, same result

x_train, y_train, x_test, y_test = load_digits_784(seed=0)
print(f"train: {x_train.shape}, test: {x_test.shape}  (8x8 digits upsampled to 28x28)")

# this returns a tensor
inputs = Input(shape=(784,))

# a layer instance is callable on a tensor, and returns a tensor
x = Dense(64, activation='relu')(inputs)
x = Dense(64, activation='relu')(x)
predictions = Dense(10, activation='softmax')(x)

# this creates a model that includes
# the Input layer and three Dense layers
model = Model(input=inputs, output=predictions)
model.compile(optimizer='rmsprop',
              loss='categorical_crossentropy',
              metrics=['accuracy'])
# validation_data is only watched, epoch by epoch; it does not steer the training
model.fit(x_train, y_train, nb_epoch=40, batch_size=32,
          validation_data=(x_test, y_test), verbose=2)  # starts training

loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")

# the trained model, used to predict: a 10-way softmax per image
probabilities = model.predict(x_test[:10])
print("predicted:", " ".join(str(d) for d in probabilities.argmax(axis=1)))
print("true:     ", " ".join(str(d) for d in y_test[:10].argmax(axis=1)))
