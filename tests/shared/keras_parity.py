"""A kcc model against the same model in Keras 3 (torch backend) with the same weights:
predictions, then 2 epochs of SGD fit (losses per epoch and the weights after); and an
optimizer's training against Keras's on a small MLP (assert_optimizer_trains_as_keras)."""
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


def _optimizer_models(seed):
    """A small MLP in kcc and in Keras with the same N(0, 1) weights, and data for it."""
    k = keras()

    def net(layers, Model):
        inp = layers.Input(shape=(5,))
        h = layers.Dense(4, activation="tanh", name="hidden")(inp)
        return Model(inp, layers.Dense(3, activation="softmax", name="out")(h))

    ours, theirs = net(kcc.layers, kcc.models.Model), net(k.layers, k.Model)
    rng = np.random.default_rng(seed)
    for name in ("hidden", "out"):
        ws = [rng.normal(size=w.shape).astype(np.float32) for w in ours.get_layer(name).get_weights()]
        ours.get_layer(name).set_weights(ws)
        theirs.get_layer(name).set_weights(ws)
    x = rng.normal(size=(16, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    return ours, theirs, x, y


def assert_optimizer_trains_as_keras(name, kwargs, device="cpu", exclude=None, epochs=2):
    """kcc.optimizers.<name>(**kwargs) and keras.optimizers.<name>(**kwargs) (exclude:
    both exclude_from_weight_decay(var_names=exclude)): fit the same model, weights and data
    in kcc (on `device`) and Keras, 2 epochs of 4 unshuffled batches of 4; the losses per
    epoch and the weights after agree."""
    k = keras()
    ours, theirs, x, y = _optimizer_models(3)
    ours_opt, theirs_opt = getattr(kcc.optimizers, name)(**kwargs), getattr(k.optimizers, name)(**kwargs)
    if exclude:
        ours_opt.exclude_from_weight_decay(var_names=exclude)
        theirs_opt.exclude_from_weight_decay(var_names=exclude)
    ours.compile(ours_opt, "categorical_crossentropy", device=device)
    theirs.compile(theirs_opt, "categorical_crossentropy")
    hist = [m.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0).history["loss"]
            for m in (ours, theirs)]
    np.testing.assert_allclose(hist[0], hist[1], rtol=1e-4)
    for layer in ("hidden", "out"):
        for a, b in zip(ours.get_layer(layer).get_weights(), theirs.get_layer(layer).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"{name} {layer}")
    return ours
