"""A kcc model against the same model in Keras 3 (torch backend) with the same weights:
predictions, then 2 epochs of SGD fit (losses per epoch and the weights after)."""
import os

import numpy as np
import pytest

import kcc


def keras():
    """Keras 3 on the torch backend, or skip the test."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def same_normal_weights(ours, theirs, names, rng):
    """Give layers `names` of both models the same N(0, 1) weights, drawn in Keras's shapes
    and order (a kcc layer whose weights differ in either fails set_weights)."""
    for name in names:
        weights = [rng.normal(size=w.shape).astype(np.float32)
                   for w in theirs.get_layer(name).get_weights()]
        ours.get_layer(name).set_weights(weights)
        theirs.get_layer(name).set_weights(weights)


def assert_fits_as_keras(ours, theirs, names, x, y, loss="categorical_crossentropy"):
    """Copy the weights of layers `names` from `ours` to `theirs`; then the predictions, 2
    epochs of SGD(0.5) in unshuffled batches of 4 (losses that change), the weights after,
    and the trained models' predict and evaluate (a model compiled for training runs its
    inference forward: moving statistics, no dropout or noise) agree."""
    k = keras()
    for name in names:
        theirs.get_layer(name).set_weights(ours.get_layer(name).get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    hist = []
    for m, opt in ((ours, kcc.optimizers.SGD(0.5)), (theirs, k.optimizers.SGD(0.5))):
        m.compile(opt, loss)
        hist.append(m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history)
    np.testing.assert_allclose(hist[0]["loss"], hist[1]["loss"], rtol=1e-4)
    assert hist[0]["loss"][1] != hist[0]["loss"][0]           # it trained
    for name in names:
        for a, b in zip(ours.get_layer(name).get_weights(), theirs.get_layer(name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5, err_msg="predict after fit")
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0),
                               rtol=1e-4, err_msg="evaluate after fit")


def assert_net_fits_as_keras(net, names, seed=0, n=8, classes=2):
    """`net(layers, Model)` built with kcc's and with Keras's layers: the same output shape,
    then assert_fits_as_keras on N(0, 1) inputs and one-hot targets of `classes`."""
    k = keras()
    ours, theirs = net(kcc.layers, kcc.models.Model), net(k.layers, k.Model)
    assert ours.output_shape == theirs.output_shape
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + tuple(ours.input_shape[1:])).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]
    assert_fits_as_keras(ours, theirs, names, x, y)
