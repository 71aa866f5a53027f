"""Losses: names, numpy references against hand-written values, target specs."""

import math

import numpy as np
import pytest

from kcc import losses

P = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.0, 1.0, 0.0]], np.float32)
ONE_HOT = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], np.float32)
LABELS = np.array([2, 0, 1])


@pytest.mark.parametrize("identifier,name", [
    ("categorical_crossentropy", "categorical_crossentropy"),
    ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy"),
    ("binary_crossentropy", "binary_crossentropy"),
    ("mse", "mean_squared_error"), ("MSE", "mean_squared_error"),
    ("mean_squared_error", "mean_squared_error"),
    ("mae", "mean_absolute_error"), ("mean_absolute_error", "mean_absolute_error"),
    (losses.mse, "mean_squared_error"), (losses.categorical_crossentropy,
                                         "categorical_crossentropy"),
    (losses.CategoricalCrossentropy(), "categorical_crossentropy"),
    (losses.SparseCategoricalCrossentropy(), "sparse_categorical_crossentropy"),
    (losses.BinaryCrossentropy(), "binary_crossentropy"),
    (losses.MeanSquaredError(), "mean_squared_error"),
    (losses.MeanAbsoluteError, "mean_absolute_error"),
    ("BinaryCrossentropy", "binary_crossentropy"),
])
def test_get_canonical(identifier, name):
    assert losses.get(identifier) == name


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown loss: 'dice'.*categorical_crossentropy"):
        losses.get("dice")
    with pytest.raises(ValueError, match="custom loss functions are not supported"):
        losses.get(lambda y, p: p)
    with pytest.raises(ValueError, match=r"`label_smoothing` must be a number in \[0, 1\]"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)


def test_categorical_crossentropy():
    # -log p[true class]; the last row has p = 1 clipped to 1 - 1e-7.
    expected = [-math.log(0.5), -math.log(0.1), -math.log(np.float32(1 - 1e-7))]
    got = losses.categorical_crossentropy(ONE_HOT, P)
    assert got.dtype == np.float32 and got.shape == (3,)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_categorical_normalizes_and_clips():
    # Unnormalized predictions are divided by their sum; 0 is clipped to 1e-7.
    y_pred = np.array([[2.0, 6.0, 0.0]], np.float32)
    soft = np.array([[0.5, 0.25, 0.25]], np.float32)
    expected = -(0.5 * math.log(0.25) + 0.25 * math.log(0.75) + 0.25 * math.log(1e-7))
    np.testing.assert_allclose(losses.categorical_crossentropy(soft, y_pred), [expected],
                               rtol=1e-5)


def test_sparse_matches_one_hot_for_both_label_shapes():
    dense = losses.categorical_crossentropy(ONE_HOT, P)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(LABELS, P), dense)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(LABELS[:, None], P), dense)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        losses.sparse_categorical_crossentropy([3, 0, 1], P)


def test_binary_crossentropy():
    y_pred = np.array([[0.9, 0.2], [0.0, 1.0]], np.float32)
    y_true = np.array([[1, 0], [1, 1]], np.float32)
    clip_lo = 1e-7
    expected = [
        (-math.log(0.9) - math.log(0.8)) / 2,
        (-math.log(clip_lo) - math.log(np.float32(1 - 1e-7))) / 2,
    ]
    np.testing.assert_allclose(losses.binary_crossentropy(y_true, y_pred), expected, rtol=1e-5)


def test_binary_accepts_labels_without_the_trailing_axis():
    y_pred = np.array([[0.9], [0.2]], np.float32)
    np.testing.assert_allclose(losses.binary_crossentropy([1, 0], y_pred),
                               [-math.log(0.9), -math.log(0.8)], rtol=1e-6)


def test_mse_and_mae():
    y_true = np.array([[1.0, 2.0], [0.0, 0.0]], np.float32)
    y_pred = np.array([[1.5, 1.0], [2.0, -2.0]], np.float32)
    np.testing.assert_allclose(losses.mse(y_true, y_pred), [(0.25 + 1) / 2, (4 + 4) / 2])
    np.testing.assert_allclose(losses.mae(y_true, y_pred), [(0.5 + 1) / 2, (2 + 2) / 2])
    np.testing.assert_allclose(losses.reference("mae", y_true, y_pred), [0.75, 2.0])


def test_loss_object_reduces_to_the_batch_mean():
    y_true = np.array([[1.0], [0.0]], np.float32)
    y_pred = np.array([[0.0], [1.0]], np.float32)
    assert losses.MeanSquaredError()(y_true, y_pred) == pytest.approx(1.0)


def test_target_spec():
    assert losses.target_spec("sparse_categorical_crossentropy", (None, 10)) == ((1,), "int32")
    assert losses.target_spec("categorical_crossentropy", (None, 10)) == ((10,), "float32")
    assert losses.target_spec("binary_crossentropy", (1,)) == ((1,), "float32")
    assert losses.target_spec("mse", (None, 5, 3)) == ((5, 3), "float32")
    assert losses.target_spec("sparse_categorical_crossentropy", (None, 7, 10)) == \
        ((7, 1), "int32")


def test_prepare_target():
    y = losses.prepare_target("sparse_categorical_crossentropy", [1, 2, 3], (None, 10))
    assert y.shape == (3, 1) and y.dtype == np.int32
    y = losses.prepare_target("sparse_categorical_crossentropy", [[1.0], [2.0]], (None, 10))
    assert y.shape == (2, 1) and y.dtype == np.int32
    y = losses.prepare_target("binary_crossentropy", np.array([0, 1], np.int64), (None, 1))
    assert y.shape == (2, 1) and y.dtype == np.float32
    with pytest.raises(ValueError, match=r"output 'main'.*\('n', 10\).*sparse_categorical"):
        losses.prepare_target("categorical_crossentropy", [1, 2], (None, 10), "main")
    with pytest.raises(ValueError, match=r"expected an array of shape \('n', 10\)"):
        losses.prepare_target("categorical_crossentropy", np.zeros((2, 9)), (None, 10))


def test_a_loss_on_an_output_no_weight_reaches_only_counts():
    """An output computed from inputs alone (no trainable weight before it) still reports
    its loss, and the other output trains as if it were alone (it used to fail to render:
    the loss asked for a gradient buffer nobody plans)."""
    import kcc
    from kcc.layers import Dense, Flatten, Input, MaxPooling2D
    from kcc.models import Model
    kcc.utils.set_random_seed(0)
    img, x = Input((1, 4, 4)), Input((3,))
    pooled = Flatten(name="pooled")(MaxPooling2D((2, 2), data_format="channels_first")(img))
    m = Model([img, x], [pooled, Dense(4, name="trained")(x)])
    m.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((8, 1, 4, 4)).astype(np.float32),
          rng.standard_normal((8, 3)).astype(np.float32)]
    ys = [np.zeros((8, 4), np.float32), np.zeros((8, 4), np.float32)]
    h = m.fit(xs, ys, batch_size=8, epochs=3, verbose=0)
    pooled_loss = float(np.mean(m.predict(xs)[0] ** 2))
    np.testing.assert_allclose(h.history["pooled_loss"], [pooled_loss] * 3, rtol=1e-5)
    assert h.history["trained_loss"][2] < h.history["trained_loss"][0]
