"""What a callback may do to its own model during fit(), on either device: predict and
evaluate between two steps (each sees the weights as the last batch left them, and the
epoch goes on as if nothing had run); fit, train_on_batch and compile are clear errors.
Also Keras's test and predict hooks, and on_train_end's logs."""
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import kcc
from kcc.callbacks import Callback, LambdaCallback
from kcc.layers import Dense, Input
from kcc.models import Model

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cuda"))
from gpu import cuda_device  # noqa: E402,F401 (a fixture)


def _mlp(device="cpu", seed=3):
    kcc.utils.set_random_seed(seed)
    x = Input(shape=(6,))
    h = Dense(8, activation="relu", name="hidden")(x)
    model = Model(x, Dense(3, activation="softmax", name="probs")(h))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"],
                  device=device)
    return model


def _data(n=96):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]


def test_predict_in_a_batch_callback_does_not_hang():
    """It deadlocked on the session's lock: run in a child, so a regression fails, not hangs."""
    code = textwrap.dedent("""
        import numpy as np
        from kcc.callbacks import LambdaCallback
        from kcc.layers import Dense, Input
        from kcc.models import Model
        x = Input(shape=(4,)); m = Model(x, Dense(2)(x)); m.compile("sgd", "mse")
        data = np.ones((64, 4), np.float32)
        seen = []
        cb = LambdaCallback(on_batch_end=lambda b, logs: seen.append(m.predict(data[:3]).shape))
        m.fit(data, np.zeros((64, 2), np.float32), batch_size=16, verbose=0, callbacks=[cb])
        print(len(seen), seen[0])
    """)
    # (from a folder that is not the checkout: `python -c` puts the working directory first
    # on sys.path, and the checkout's kcc has no built runtime)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["4", "(3,", "2)"]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_predict_and_evaluate_inside_fit(request, device):
    if device == "cuda":
        request.getfixturevalue("cuda_device")
    x, y = _data()
    plain = _mlp(device)
    want = plain.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0).history

    model = _mlp(device)
    seen = []

    def look(batch, logs):
        weights = model.get_weights()
        seen.append((weights, model.predict(x[:10]), model.evaluate(x[:40], y[:40], batch_size=8, verbose=0)))

    got = model.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0,
                    callbacks=[LambdaCallback(on_batch_end=look)]).history
    # the epochs went on as if nothing had run between their steps
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, err_msg=k)
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # each call inside saw the weights of its batch
    assert len(seen) == 12
    check = _mlp("cpu")
    for weights, pred, ev in seen[::5]:
        check.set_weights(weights)
        np.testing.assert_allclose(pred, check.predict(x[:10]), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ev, check.evaluate(x[:40], y[:40], batch_size=8, verbose=0), rtol=1e-5)
    assert not np.allclose(seen[0][1], seen[-1][1])


@pytest.mark.parametrize("call", ["fit", "train_on_batch", "compile"])
def test_training_or_recompiling_inside_fit_is_a_clear_error(call):
    x, y = _data()
    model = _mlp()

    def inner(batch, logs):
        if call == "fit":
            model.fit(x, y, verbose=0)
        elif call == "train_on_batch":
            model.train_on_batch(x[:4], y[:4])
        else:
            model.compile("sgd", "categorical_crossentropy")

    with pytest.raises(RuntimeError, match=rf"{call}\(\) was called on model '{model.name}' from "
                                           r"inside its own fit\(\).*predict\(\) and evaluate\(\) work"):
        model.fit(x, y, batch_size=32, verbose=0, callbacks=[LambdaCallback(on_batch_end=inner)])
    model.fit(x, y, batch_size=32, verbose=0)   # the model is usable afterwards
    model.compile("sgd", "categorical_crossentropy")


class _Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_test_begin(self, logs=None):
        self.calls.append(("test_begin",))

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append(("test_batch", batch, dict(logs)))

    def on_test_end(self, logs=None):
        self.calls.append(("test_end", dict(logs)))

    def on_predict_begin(self, logs=None):
        self.calls.append(("predict_begin",))

    def on_predict_batch_end(self, batch, logs=None):
        self.calls.append(("predict_batch", batch, logs["outputs"].shape))

    def on_predict_end(self, logs=None):
        self.calls.append(("predict_end",))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", dict(logs)))


def test_validation_runs_the_test_hooks_and_on_train_end_gets_the_last_logs():
    x, y = _data()
    model = _mlp()
    rec = _Recorder()
    hist = model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, validation_batch_size=10,
                     verbose=0, callbacks=[rec]).history
    kinds = [c[0] for c in rec.calls]
    # 24 validation rows in batches of 10: three test batches per epoch
    assert kinds == (["test_begin"] + ["test_batch"] * 3 + ["test_end"]) * 2 + ["train_end"]
    assert [c[1] for c in rec.calls if c[0] == "test_batch"] == [0, 1, 2, 0, 1, 2]
    last_test = [c for c in rec.calls if c[0] == "test_end"][-1][1]
    assert last_test["loss"] == pytest.approx(hist["val_loss"][-1])
    assert rec.calls[-1][1]["val_accuracy"] == pytest.approx(hist["val_accuracy"][-1])
    assert rec.calls[-1][1]["loss"] == pytest.approx(hist["loss"][-1])
    # batch by batch, the running logs end at the evaluation's
    assert rec.calls[3][2]["loss"] == pytest.approx(rec.calls[4][1]["loss"])


def test_evaluate_and_predict_keyword_arguments():
    x, y = _data()
    model = _mlp()
    loss, acc = model.evaluate(x, y, batch_size=16, verbose=0)
    assert model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True) == {
        "loss": pytest.approx(loss), "accuracy": pytest.approx(acc)}
    # steps: the first `steps` batches only
    assert model.evaluate(x, y, batch_size=16, steps=2, verbose=0) == pytest.approx(
        model.evaluate(x[:32], y[:32], batch_size=16, verbose=0))
    assert model.predict(x, batch_size=16, steps=3).shape == (48, 3)
    with pytest.raises(ValueError, match="`steps` must be a positive integer"):
        model.predict(x, steps=0)

    rec = _Recorder()
    out = model.predict(x[:40], batch_size=16, callbacks=[rec])
    np.testing.assert_allclose(out, model.predict(x[:40]), rtol=1e-6)
    assert rec.calls == [("predict_begin",), ("predict_batch", 0, (16, 3)), ("predict_batch", 1, (16, 3)),
                         ("predict_batch", 2, (8, 3)), ("predict_end",)]
    rec = _Recorder()
    assert model.evaluate(x, y, batch_size=32, callbacks=[rec], verbose=0) == pytest.approx([loss, acc])
    assert [c[0] for c in rec.calls] == ["test_begin", "test_batch", "test_batch", "test_batch", "test_end"]

    logs = model.train_on_batch(x[:8], y[:8], return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.test_on_batch(x[:8], y[:8], return_dict=True).keys() == logs.keys()
    with pytest.raises(ValueError, match=r"`sample_weight` for output .* one weight per sample"):
        model.train_on_batch(x[:8], y[:8], sample_weight=np.ones(7))


def test_keras_compile_options():
    model = _mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", jit_compile=True,
                  steps_per_execution=8, run_eagerly=False)
    assert model.optimizer.kind == "sgd"
    with pytest.raises(ValueError, match="run_eagerly=True.*no eager mode"):
        model.compile(optimizer="sgd", loss="categorical_crossentropy", run_eagerly=True)
    with pytest.raises(ValueError, match=r"loss_weights_mode=\.\.\.\) is not supported"):
        model.compile(optimizer="sgd", loss="categorical_crossentropy", loss_weights_mode="x")
