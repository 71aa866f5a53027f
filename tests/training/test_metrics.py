"""Metrics: how 'accuracy' resolves, display names, numpy references."""

import numpy as np
import pytest

from kcc import metrics

# (metric as written, loss, output shape) -> canonical metric
RESOLUTION = [
    ("accuracy", "categorical_crossentropy", (None, 10), "categorical_accuracy"),
    ("acc", "categorical_crossentropy", (None, 10), "categorical_accuracy"),
    ("accuracy", "sparse_categorical_crossentropy", (None, 10), "sparse_categorical_accuracy"),
    ("acc", "binary_crossentropy", (None, 1), "binary_accuracy"),
    ("acc", "binary_crossentropy", (None, 5), "binary_accuracy"),  # multi-label
    ("accuracy", "mse", (None, 1), "binary_accuracy"),
    ("accuracy", "mse", (None, 4), "categorical_accuracy"),
    ("accuracy", "mean_absolute_error", (None, 4), "categorical_accuracy"),
    ("Accuracy", "categorical_crossentropy", (None, 10), "categorical_accuracy"),
    ("categorical_accuracy", "mse", (None, 4), "categorical_accuracy"),
    ("sparse_categorical_accuracy", "sparse_categorical_crossentropy", (None, 4),
     "sparse_categorical_accuracy"),
    ("binary_accuracy", "mse", (None, 4), "binary_accuracy"),
    ("mse", "mse", (None, 4), "mean_squared_error"),
    ("MAE", "mse", (None, 4), "mean_absolute_error"),
    (metrics.mae, "mse", (None, 4), "mean_absolute_error"),
    (metrics.binary_accuracy, "mse", (None, 4), "binary_accuracy"),
    (metrics.CategoricalAccuracy(), "mse", (None, 4), "categorical_accuracy"),
]


@pytest.mark.parametrize("metric,loss,shape,canonical", RESOLUTION)
def test_resolution_table(metric, loss, shape, canonical):
    assert metrics.resolve(metric, loss, shape) == canonical


@pytest.mark.parametrize("metric,canonical,shown", [
    ("acc", "binary_accuracy", "acc"),
    ("accuracy", "binary_accuracy", "accuracy"),
    ("mse", "mean_squared_error", "mse"),
    ("mean_absolute_error", "mean_absolute_error", "mean_absolute_error"),
    (metrics.mae, "mean_absolute_error", "mean_absolute_error"),
    (metrics.BinaryAccuracy(), "binary_accuracy", "binary_accuracy"),
    (metrics.BinaryAccuracy(name="bin_acc"), "binary_accuracy", "bin_acc"),
])
def test_display_name(metric, canonical, shown):
    assert metrics.display_name(metric, canonical) == shown


def test_unknown_metric():
    with pytest.raises(ValueError, match=r"Unknown metric: 'f1'.*'accuracy', 'acc'"):
        metrics.resolve("f1", "mse", (None, 1))
    with pytest.raises(ValueError, match="custom metric functions"):
        metrics.resolve(lambda y, p: p, "mse", (None, 1))


def test_categorical_accuracy():
    y_true = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.float32)
    y_pred = np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.4, 0.4, 0.2]], np.float32)
    # the tie in the last row goes to the first maximum, class 0
    np.testing.assert_array_equal(metrics.categorical_accuracy(y_true, y_pred), [1, 0, 1])


def test_sparse_categorical_accuracy():
    y_pred = np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]], np.float32)
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy([2, 1], y_pred), [1, 0])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy([[2], [0]], y_pred), [1, 1])


def test_binary_accuracy_threshold_and_last_axis_mean():
    y_pred = np.array([[0.6, 0.5], [0.2, 0.9]], np.float32)
    y_true = np.array([[1, 1], [0, 1]], np.float32)
    # 0.5 is not above the threshold
    np.testing.assert_array_equal(metrics.binary_accuracy(y_true, y_pred), [0.5, 1.0])
    np.testing.assert_array_equal(metrics.binary_accuracy([1, 1], [[0.7], [0.3]]), [1.0, 0.0])


def test_reference_resolves_accuracy():
    y_pred = np.array([[0.7], [0.3]], np.float32)
    np.testing.assert_array_equal(metrics.reference("acc", [[1], [1]], y_pred), [1.0, 0.0])
    np.testing.assert_allclose(metrics.reference("mse", [[1.0], [1.0]], y_pred), [0.09, 0.49],
                               rtol=1e-6)


def test_string_metrics_log_as_written_and_survive_a_save(tmp_path):
    """Keras 2/3 log metrics=['mse'] as 'mse': EarlyStopping(monitor='val_mse') must find it."""
    from kcc.callbacks import EarlyStopping
    from kcc.layers import Dense, Input
    from kcc.models import Model, load_model
    x = Input(shape=(3,))
    model = Model(x, Dense(2)(x))
    model.compile("sgd", "mse", metrics=["mse", "mean_absolute_error"])
    data = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    stop = EarlyStopping(monitor="val_mse", patience=0, min_delta=1e9)   # no epoch is better enough
    hist = model.fit(data, data[:, :2], epochs=5, validation_split=0.25, verbose=0, callbacks=[stop])
    assert set(hist.history) == {"loss", "mse", "mean_absolute_error", "val_loss", "val_mse",
                                 "val_mean_absolute_error"}
    assert len(hist.history["loss"]) == 2   # it stopped: the monitored key exists
    model.save(tmp_path / "m.kcc")
    assert load_model(tmp_path / "m.kcc").metrics_names == ["loss", "mse", "mean_absolute_error"]
