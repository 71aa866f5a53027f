"""mode='auto' of EarlyStopping, ReduceLROnPlateau and ModelCheckpoint, against Keras 3
(torch backend): 'loss' is minimized; a compiled metric, found by its own name (as given
to compile, or a metric object's name), goes its way (accuracies up, mse / mae down);
other names are an error asking for mode. Where Keras 3 cannot tell, kcc also reads the
model's other log keys (<output>_loss, <output>_<metric>)."""
import os

import numpy as np
import pytest

import kcc
from kcc.models import Model


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _directions(module, model, monitors):
    """monitor -> 'max' / 'min' / 'error' for each of the three callbacks of `module`."""
    out = {}
    for monitor in monitors:
        got = []
        for cb in (module.EarlyStopping(monitor=monitor), module.ReduceLROnPlateau(monitor=monitor),
                   module.ModelCheckpoint("m.keras", monitor=monitor)):
            cb.set_model(model)
            try:
                cb._set_monitor_op()
            except ValueError as e:
                assert "mode='max'" in str(e)
                got.append("error")
                continue
            got.append("max" if bool(cb.monitor_op(2.0, 1.0)) else "min")
        out[monitor] = got
    return out


def test_auto_mode_reads_the_compiled_metrics_as_keras():
    keras = _keras()
    monitors = ["loss", "val_loss", "acc", "val_acc", "foo", "val_foo", "hits", "accuracy",
                "mse", "val_mean_squared_error", "f1"]
    models = []
    for L, M, mod in ((kcc.layers, Model, kcc), (keras.layers, keras.Model, keras)):
        x = L.Input(shape=(4,))
        model = M(x, L.Dense(3, activation="softmax")(x))
        model.compile(optimizer="sgd", loss="categorical_crossentropy",
                      metrics=["acc", mod.metrics.MeanSquaredError(name="foo")],
                      weighted_metrics=[mod.metrics.CategoricalAccuracy(name="hits")])
        models.append((model, mod))
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(4, 4)).astype(np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    models[1][0].evaluate(xs, ys, verbose=0)      # Keras builds its metrics on first use
    ours, theirs = (_directions(mod.callbacks, m, monitors) for m, mod in models)
    assert ours == theirs
    assert ours["val_acc"] == ["max"] * 3 and ours["foo"] == ["min"] * 3
    assert ours["accuracy"] == ["error"] * 3       # not a compiled name: say which way


def test_auto_mode_reads_output_log_keys_where_keras_cannot():
    from kcc.layers import Dense, Input
    inp = Input(shape=(4,))
    model = Model(inp, [Dense(3, activation="softmax", name="a")(inp), Dense(2, name="b")(inp)])
    model.compile(optimizer="sgd", loss=["categorical_crossentropy", "mse"],
                  metrics=[["accuracy"], ["mae"]], weighted_metrics=[["accuracy"], []])
    got = _directions(kcc.callbacks, model, ["val_a_loss", "a_accuracy", "val_a_weighted_accuracy",
                                             "b_mae", "accuracy", "b_accuracy"])
    assert got == {"val_a_loss": ["min"] * 3, "a_accuracy": ["max"] * 3,
                   "val_a_weighted_accuracy": ["max"] * 3, "b_mae": ["min"] * 3,
                   "accuracy": ["max"] * 3, "b_accuracy": ["error"] * 3}
