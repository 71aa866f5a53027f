"""Keras 3's other metrics: the losses as metrics (mape, msle, logcosh, kld, poisson,
cosine_similarity, the hinges, the crossentropies), RootMeanSquaredError (the square root
of the epoch's mean), TopKCategoricalAccuracy / SparseTopKCategoricalAccuracy (ties count,
as in_top_k on torch) and Precision / Recall (streaming ratios over the epoch): names and
logged values against Keras 3 (2 epochs of history with sample weights and weighted
metrics, evaluate), against numpy (kcc.metrics.epoch_value), save/load, bad arguments."""
import os

import numpy as np
import pytest

import kcc
from kcc import metrics
from kcc.models import Model

CLASSES = ["MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "RootMeanSquaredError",
           "LogCoshError", "KLDivergence", "Poisson", "Hinge", "SquaredHinge",
           "CategoricalHinge", "CosineSimilarity", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "Precision", "Recall"]


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def test_default_names_as_keras():
    """Also the session-unique names Keras 3 gives an unnamed Precision or Recall
    (precision, precision_1, ...), which clear_session restarts."""
    keras = _keras()
    keras.backend.clear_session()
    kcc.utils.clear_session()
    for name in CLASSES + ["Precision", "Recall"]:
        assert getattr(metrics, name)().name == getattr(keras.metrics, name)().name, name
    assert metrics.Precision().name == "precision_2"
    kcc.utils.clear_session()
    assert metrics.Precision().name == "precision"


def _build(L, M):
    x = L.Input(shape=(6,), name="x")
    h = L.Dense(8, activation="tanh", name="h")(x)
    return M(x, [L.Dense(5, activation="softmax", name="probs")(h),
                 L.Dense(6, activation="softmax", name="ids")(h),
                 L.Dense(3, activation="sigmoid", name="bits")(h)])


def _metrics(M):
    """The same metrics in either library's spelling (strings as Keras 3 accepts them)."""
    return {"probs": ["kl_divergence", "categorical_crossentropy", "categorical_hinge",
                      M.TopKCategoricalAccuracy(k=2), "top_k_categorical_accuracy",
                      "cosine_similarity", "poisson", "mape", "msle",
                      M.RootMeanSquaredError(), M.LogCoshError(), "hinge", "squared_hinge",
                      "bce", "precision", M.Recall()],
            "ids": ["sparse_top_k_categorical_accuracy", M.SparseTopKCategoricalAccuracy(k=2),
                    "sparse_categorical_crossentropy"],
            "bits": [M.Precision(), M.Recall(name="rec"), "binary_crossentropy", "hinge",
                     "root_mean_squared_error"]}


def _weighted(M):
    return {"bits": ["precision", M.RootMeanSquaredError(), "mape"]}


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_history_and_evaluate_as_keras(device, monkeypatch):
    """Every metric on a three-output model, the same weights in Keras 3 and kcc: 2 epochs
    of SGD over uneven batches with sample weights (the history's every key, validation
    included), then evaluate with and without sample weights. kcc's CPU unit and its
    emulated CUDA unit."""
    if device == "cuda":
        monkeypatch.setenv("KCC_CUDA_EMULATE", "1")
    keras = _keras()
    keras.backend.clear_session()     # the unnamed Precision's name counts per session
    kcc.utils.clear_session()
    rng = np.random.default_rng(5)
    n = 22
    x = rng.normal(size=(n, 6)).astype(np.float32) * 2
    y = [np.eye(5, dtype=np.float32)[rng.integers(0, 5, n)],
         rng.integers(0, 6, n).astype(np.int32),
         (rng.random((n, 3)) > 0.4).astype(np.float32)]
    sw = rng.uniform(0.2, 2.0, n).astype(np.float32)
    ours, theirs = _build(kcc.layers, Model), _build(keras.layers, keras.Model)
    for layer in ("h", "probs", "ids", "bits"):
        theirs.get_layer(layer).set_weights(ours.get_layer(layer).get_weights())
    loss = ["categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy"]
    ours.compile(kcc.optimizers.SGD(0.5), loss, metrics=_metrics(metrics),
                 weighted_metrics=_weighted(metrics), device=device)
    theirs.compile(keras.optimizers.SGD(0.5), loss, metrics=_metrics(keras.metrics),
                   weighted_metrics=_weighted(keras.metrics))
    fit = dict(batch_size=5, epochs=2, shuffle=False, verbose=0, sample_weight=sw,
               validation_data=(x[:9], [a[:9] for a in y]))
    h = [m.fit(x, y, **fit).history for m in (ours, theirs)]
    assert sorted(h[0]) == sorted(h[1])
    for key in h[1]:
        np.testing.assert_allclose(h[0][key], h[1][key], rtol=2e-4, atol=1e-6, err_msg=key)
    assert h[0]["bits_precision"][0] not in (0.0, 1.0)
    for kwargs in ({}, {"sample_weight": sw}):
        a = ours.evaluate(x, y, batch_size=4, verbose=0, return_dict=True, **kwargs)
        b = theirs.evaluate(x, y, batch_size=4, verbose=0, return_dict=True, **kwargs)
        assert sorted(a) == sorted(b)
        for key in b:
            np.testing.assert_allclose(a[key], b[key], rtol=2e-4, atol=1e-6, err_msg=key)


def test_values_against_numpy_and_top_k_ties():
    """Identity heads, so the predictions are the inputs, with ties at the k-th score: every
    metric's evaluate against kcc.metrics.epoch_value (float64 numpy) and Keras's own
    functions for the top-k ties."""
    keras = _keras()
    from kcc.layers import Dense, Input
    x = np.array([[0.5, 0.2, 0.2, 0.1], [0.1, 0.3, 0.3, 0.3], [0.9, 0.05, 0.05, 0.0],
                  [0.25, 0.25, 0.25, 0.25], [0.0, 0.6, 0.7, 0.8]], np.float32)
    labels = np.array([2, 0, 3, 1, 1])
    y = np.eye(4, dtype=np.float32)[labels]
    inp = Input(shape=(4,))
    model = Model(inp, Dense(4, use_bias=False, kernel_initializer="identity")(inp))
    names = ["mape", "msle", "logcosh", "kld", "poisson", "cosine_similarity", "hinge",
             "squared_hinge", "categorical_hinge", "bce", "categorical_crossentropy",
             "root_mean_squared_error", "precision", "recall", "top_k_categorical_accuracy",
             metrics.TopKCategoricalAccuracy(k=2, name="top2"),
             metrics.TopKCategoricalAccuracy(k=1, name="top1")]
    model.compile("sgd", "mse", metrics=names)
    logs = model.evaluate(x, y, batch_size=2, verbose=0, return_dict=True)
    for metric in names:
        key = metric if isinstance(metric, str) else metric.name
        assert logs[key] == pytest.approx(metrics.epoch_value(metric, y, x, "mse"), rel=1e-5,
                                          abs=1e-7), key
    for k, key in ((1, "top1"), (2, "top2")):
        want = keras.ops.convert_to_numpy(keras.metrics.top_k_categorical_accuracy(y, x, k=k))
        assert logs[key] == pytest.approx(float(np.mean(want))), key
    # in the top 2: sample 0 (one score above), sample 3 (all tied); not samples 1, 2 and 4
    assert logs["top2"] == pytest.approx(2 / 5)


def test_sparse_top_k_with_ties_as_keras():
    keras = _keras()
    from kcc.layers import Dense, Input
    x = np.array([[0.1, 0.3, 0.3, 0.3], [0.4, 0.4, 0.1, 0.1], [0.0, 0.2, 0.5, 0.3]], np.float32)
    labels = np.array([[3], [1], [0]], np.int32)
    inp = Input(shape=(4,))
    model = Model(inp, Dense(4, use_bias=False, kernel_initializer="identity")(inp))
    model.compile("sgd", "sparse_categorical_crossentropy",
                  metrics=[metrics.SparseTopKCategoricalAccuracy(k=1, name="top1"),
                           metrics.SparseTopKCategoricalAccuracy(k=3, name="top3")])
    logs = model.evaluate(x, labels, verbose=0, return_dict=True)
    for k in (1, 3):
        want = keras.ops.convert_to_numpy(
            keras.metrics.sparse_top_k_categorical_accuracy(labels, x, k=k))
        assert logs[f"top{k}"] == pytest.approx(float(np.mean(want)))


def test_early_stopping_directions_as_keras():
    """auto mode reads the metric's direction: similarity, top-k, precision and recall up,
    the error metrics down (Keras 3's _direction)."""
    from kcc.layers import Dense, Input
    from kcc.training.monitor_callbacks import _direction
    inp = Input(shape=(3,))
    model = Model(inp, Dense(4, activation="softmax")(inp))
    model.compile("sgd", "categorical_crossentropy",
                  metrics=["cosine_similarity", "top_k_categorical_accuracy", "precision",
                           metrics.Recall(name="r"), metrics.RootMeanSquaredError(), "kld",
                           "categorical_hinge"])
    for key, way in (("val_cosine_similarity", "max"), ("top_k_categorical_accuracy", "max"),
                     ("val_precision", "max"), ("r", "max"), ("root_mean_squared_error", "min"),
                     ("val_kld", "min"), ("categorical_hinge", "min")):
        assert _direction(model, key) == way, key


def test_metrics_survive_save_and_load(tmp_path):
    from kcc.layers import Dense, Input
    inp = Input(shape=(3,))
    model = Model(inp, Dense(4, activation="softmax")(inp))
    model.compile("sgd", "categorical_crossentropy",
                  metrics=[metrics.TopKCategoricalAccuracy(k=2, name="t2"), "precision",
                           metrics.RootMeanSquaredError(), metrics.huber, "kld"])
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 3)).astype(np.float32), np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 2]]
    path = str(tmp_path / "m.kcc")
    model.save(path)
    loaded = kcc.models.load_model(path)
    a = model.evaluate(x, y, verbose=0, return_dict=True)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(a)
    assert sorted(a) == ["huber", "kld", "loss", "precision", "root_mean_squared_error", "t2"]
    assert loaded._compile_config.metrics[0][0] == ("t2", "top_k_categorical_accuracy:2")


def test_bad_arguments_are_clear_errors():
    from kcc.layers import Dense, Input
    for name in ("auc", "f1_score", "AUC"):
        with pytest.raises(ValueError, match="Unknown metric"):
            metrics.resolve(name, "mse", (3,))
    with pytest.raises(ValueError, match="threshold 0.5 only"):
        metrics.Precision(thresholds=0.3)
    with pytest.raises(ValueError, match="class_id"):
        metrics.Recall(class_id=1)
    with pytest.raises(ValueError, match="`k` must be a positive integer"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match="from_sorted_ids"):
        metrics.SparseTopKCategoricalAccuracy(from_sorted_ids=True)
    with pytest.raises(ValueError, match="from_logits=False"):
        metrics.BinaryCrossentropy(from_logits=True)
    with pytest.raises(ValueError, match="only axis=-1"):
        metrics.CosineSimilarity(axis=0)
    inp = Input(shape=(3,))
    model = Model(inp, Dense(2)(inp))
    model.compile("sgd", "mse", metrics=["hinge"])
    with pytest.raises(ValueError, match="'hinge' mix rows of 0/1 labels with other values"):
        model.evaluate(np.zeros((3, 3), np.float32), np.array([[0, 1], [-1, 1], [1, 1]]),
                       verbose=0)
    model = Model(inp, Dense(4, activation="softmax")(inp))
    with pytest.raises(ValueError, match="needs dense targets"):
        model.compile("sgd", "sparse_categorical_crossentropy", metrics=["precision"])
    with pytest.raises(ValueError, match="needs sparse targets"):
        model.compile("sgd", "categorical_crossentropy",
                      metrics=["sparse_top_k_categorical_accuracy"])
