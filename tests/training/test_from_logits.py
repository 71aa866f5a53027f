"""from_logits=True crossentropies: Keras 3's values and gradients on raw logits (float64
numpy references, logits of +-100), fit against Keras 3 (torch), saving the loss config.
Also label_smoothing, which categorical and binary crossentropy take with or without
from_logits: y * (1 - ls) + ls / classes, y * (1 - ls) + ls / 2."""
import os

import numpy as np
import pytest

import kcc
from kcc import losses
from kcc.layers import Dense, Input
from kcc.models import Model

Z = np.array([[100.0, -100.0, 0.0], [-100.0, 99.0, 100.0], [0.5, -0.25, 2.0]])
LABELS = np.array([1, 2, 0])
ONE_HOT = np.eye(3)[LABELS]
BITS = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
LS_CAT, LS_BIN = 0.1, 0.2       # the label_smoothing of the categorical and binary heads
SOFT_HOT = ONE_HOT * (1 - LS_CAT) + LS_CAT / 3
SOFT_BITS = BITS * (1 - LS_BIN) + LS_BIN / 2


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _lse(z):
    m = z.max(-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))[:, 0]


def _bce(z, y):
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), axis=-1)


def test_numpy_references_and_names():
    want = _lse(Z) - Z[np.arange(3), LABELS]
    assert want[0] == pytest.approx(200.0)
    np.testing.assert_allclose(losses.categorical_crossentropy(ONE_HOT, Z, from_logits=True),
                               want, rtol=1e-12)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(LABELS, Z, from_logits=True),
                               want, rtol=1e-12)
    np.testing.assert_allclose(losses.binary_crossentropy(BITS, Z, from_logits=True),
                               _bce(Z, BITS), rtol=1e-12)
    assert np.isfinite(losses.BinaryCrossentropy(from_logits=True)(BITS, Z))
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) == "sparse_categorical_crossentropy_from_logits"
    assert losses.base(losses.get(loss)) == "sparse_categorical_crossentropy"
    assert losses.target_kind(loss) == "sparse"
    assert loss.get_config()["from_logits"] is True
    assert loss(LABELS, Z) == pytest.approx(np.mean(want))
    soft = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=LS_CAT)
    np.testing.assert_allclose(losses.reference(soft, ONE_HOT, Z),
                               _lse(Z) - (SOFT_HOT * Z).sum(-1), rtol=1e-12)
    soft_bin = losses.BinaryCrossentropy(label_smoothing=LS_BIN)
    assert soft_bin.get_config()["label_smoothing"] == LS_BIN
    p = 1 / (1 + np.exp(-Z[2:]))
    assert soft_bin(BITS[2:], p) == pytest.approx(
        -np.mean(SOFT_BITS[2] * np.log(p) + (1 - SOFT_BITS[2]) * np.log(1 - p)), rel=1e-6)
    with pytest.raises(TypeError, match="label_smoothing"):   # as Keras 3's: it takes none
        losses.SparseCategoricalCrossentropy(label_smoothing=0.1)
    with pytest.raises(ValueError, match="takes no label_smoothing"):
        losses.smoothed("mean_squared_error", 0.1)
    with pytest.raises(ValueError, match="BinaryCrossentropy: `from_logits` must be True or False"):
        losses.BinaryCrossentropy(from_logits="yes")


def test_native_loss_and_gradient_with_large_logits(tmp_path):
    """Identity kernels make the logits the inputs: each head's loss sum and kernel gradient
    x^T (p - y) / n against float64 numpy, no overflow at +-100, the categorical and binary
    heads' y smoothed. The binary head's 'accuracy' thresholds the raw logits at 0.5, as
    Keras's binary_accuracy does (on the unsmoothed targets)."""
    x = Input(shape=(3,))
    heads = [Dense(3, use_bias=False, kernel_initializer="identity", name=n)(x)
             for n in ("cat", "sparse", "bin")]
    model = Model(x, heads)
    model.compile("sgd", [losses.CategoricalCrossentropy(from_logits=True, label_smoothing=LS_CAT),
                          losses.SparseCategoricalCrossentropy(from_logits=True),
                          losses.BinaryCrossentropy(from_logits=True, label_smoothing=LS_BIN)],
                  metrics={"cat": ["accuracy"], "sparse": ["accuracy"], "bin": ["accuracy"]})
    xs = Z.astype(np.float32)
    ys = [ONE_HOT.astype(np.float32), LABELS.astype(np.int32), BITS.astype(np.float32)]
    sums, grads = model._native.gradients(model._x(xs), model._y(ys))   # one batch, no update
    sparse, cat = _lse(Z) - Z[np.arange(3), LABELS], _lse(Z) - (SOFT_HOT * Z).sum(-1)
    np.testing.assert_allclose(sums[1:4], [cat.sum(), sparse.sum(), _bce(Z, SOFT_BITS).sum()],
                               rtol=1e-6)
    n = len(Z)
    dz_sparse = (_softmax(Z) - ONE_HOT) / n
    dz_cat = (_softmax(Z) - SOFT_HOT) / n
    dz_bin = (1 / (1 + np.exp(-Z)) - SOFT_BITS) / (n * 3)
    for name, dz in (("cat", dz_cat), ("sparse", dz_sparse), ("bin", dz_bin)):
        got = next(g for k, g in grads.items() if k.startswith(name + "/"))
        np.testing.assert_allclose(got, Z.T @ dz, rtol=1e-5, atol=1e-6, err_msg=name)
    logs = model.evaluate(xs, ys, verbose=0, return_dict=True)
    assert logs["bin_accuracy"] == pytest.approx(np.mean((Z > 0.5) == BITS))
    assert logs["cat_accuracy"] == pytest.approx(np.mean(Z.argmax(-1) == LABELS))
    # the compile config keeps from_logits and label_smoothing through save / load_model
    path = str(tmp_path / "m.kcc")
    model.save(path)
    loaded = kcc.models.load_model(path)
    assert loaded._compile_config.losses == [losses.LOGITS[k] for k in (
        "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")]
    assert loaded._compile_config.label_smoothing == [LS_CAT, 0.0, LS_BIN]
    assert loaded.evaluate(xs, ys, verbose=0, return_dict=True) == pytest.approx(logs)


def _build(L, M):
    x = L.Input(shape=(4,), name="x")
    h = L.Dense(6, activation="tanh", name="h")(x)
    return M(x, [L.Dense(3, name="cat")(h), L.Dense(4, name="sp")(h), L.Dense(1, name="bin")(h),
                 L.Dense(3, activation="softmax", name="soft")(h)])


def _compile(K, model):
    model.compile(optimizer=K.optimizers.SGD(learning_rate=0.2, momentum=0.5),
                  loss=[K.losses.CategoricalCrossentropy(from_logits=True),
                        K.losses.SparseCategoricalCrossentropy(from_logits=True),
                        K.losses.BinaryCrossentropy(from_logits=True, label_smoothing=LS_BIN),
                        K.losses.CategoricalCrossentropy(label_smoothing=LS_CAT)],
                  metrics={"cat": ["accuracy"], "sp": ["accuracy"], "bin": ["accuracy"]})


def test_fit_matches_keras_with_sample_weights():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    n = 10
    x = rng.normal(size=(n, 4)).astype(np.float32)
    ys = [np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)],
          rng.integers(0, 4, (n, 1)).astype(np.int32),
          (rng.random((n, 1)) > 0.5).astype(np.float32),
          np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]]
    sw = rng.uniform(0.2, 2.0, n).astype(np.float32)
    ours, theirs = _build(kcc.layers, Model), _build(keras.layers, keras.Model)
    for layer in ("h", "cat", "sp", "bin", "soft"):
        theirs.get_layer(layer).set_weights(ours.get_layer(layer).get_weights())
    _compile(kcc, ours)
    _compile(keras, theirs)
    kw = dict(batch_size=4, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    got, want = ours.fit(x, ys, **kw).history, theirs.fit(x, ys, **kw).history
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for layer in ("h", "cat", "sp", "bin", "soft"):
        for a, b in zip(ours.get_layer(layer).get_weights(), theirs.get_layer(layer).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=layer)
