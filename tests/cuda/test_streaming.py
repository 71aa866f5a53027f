"""Data that does not fit the device budget streams in batch by batch and gives the same
numbers as resident data: fit (shuffled, with validation), evaluate and predict, with
several inputs and outputs, int ids, a last partial batch. KCC_CUDA_DATA_BYTES sets the
budget. On the GPU where there is one, else host-emulated (gpu.cuda_device)."""
import numpy as np
import pytest

import kcc
from gpu import cuda_device  # noqa: F401 (a fixture)
from kcc.layers import LSTM, Concatenate, Dense, Embedding, Input
from kcc.models import Model

pytestmark = [pytest.mark.cuda]


def _two_in_two_out():
    ids = Input(shape=(5,), dtype="int32", name="ids")
    aux = Input(shape=(3,), name="aux")
    h = LSTM(6)(Embedding(20, 4)(ids))
    side = Dense(1, activation="sigmoid", name="side")(h)
    h = Dense(8, activation="relu")(Concatenate()([h, aux]))
    main = Dense(1, activation="sigmoid", name="main")(h)
    return Model([ids, aux], [main, side])


def _data(n=83):   # 83: batches of 16 leave a partial one
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 20, (n, 5)).astype(np.int32)
    aux = rng.standard_normal((n, 3)).astype(np.float32)
    y = (ids.sum(axis=1, keepdims=True) > 47).astype(np.float32)
    return [ids, aux], [y, y]


def _train(monkeypatch, budget):
    """(history, predictions, evaluation, weights, which calls streamed) of one run."""
    monkeypatch.setenv("KCC_CUDA_DATA_BYTES", budget)
    kcc.utils.set_random_seed(5)
    model = _two_in_two_out()
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", loss_weights=[1.0, 0.2],
                  metrics=["accuracy"], device="cuda")
    x, y = _data()
    hist = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, shuffle=True, verbose=0)
    session = model._native.session
    streamed = {"fit": session.data_streamed("fit"), "validation": session.data_streamed("evaluate")}
    pred = model.predict(x, batch_size=16)
    streamed["predict"] = session.data_streamed("predict")
    ev = model.evaluate(x, y, batch_size=16, verbose=0)
    streamed["evaluate"] = session.data_streamed("evaluate")
    return hist.history, pred, ev, model.get_weights(), streamed


def test_streamed_data_trains_and_predicts_like_resident_data(monkeypatch, cuda_device):
    h0, p0, e0, w0, s0 = _train(monkeypatch, "")
    h1, p1, e1, w1, s1 = _train(monkeypatch, "500")   # every call's data is over 500 bytes
    assert not any(s0.values()), s0
    assert all(s1.values()), s1
    assert h0.keys() == h1.keys()
    for k in h0:
        np.testing.assert_allclose(h1[k], h0[k], rtol=1e-5, err_msg=k)
    for a, b in zip(p1, p0):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(e1, e0, rtol=1e-5)
    for a, b in zip(w1, w0):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert h0["loss"][-1] < h0["loss"][0]


def test_one_session_switches_between_streamed_and_resident(monkeypatch, cuda_device):
    """The captured step graphs of one mode are not replayed in the other."""
    x, y = _data()
    runs = []
    for budgets in (["", "", ""], ["", "1K", ""]):
        kcc.utils.set_random_seed(6)
        model = _two_in_two_out()
        model.compile(optimizer="adam", loss="binary_crossentropy", device="cuda")
        for b in budgets:
            monkeypatch.setenv("KCC_CUDA_DATA_BYTES", b)
            model.fit(x, y, batch_size=32, epochs=1, shuffle=True, verbose=0)
            assert model._native.session.data_streamed("fit") == (b != "")
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_streamed_data_from_a_strided_array(monkeypatch, cuda_device):
    """A non-contiguous input (every other row of a bigger array) streams the right rows."""
    monkeypatch.setenv("KCC_CUDA_DATA_BYTES", "0")
    kcc.utils.set_random_seed(2)
    x = Input(shape=(4,))
    model = Model(x, Dense(2)(x))
    model.compile(optimizer="sgd", loss="mse", device="cuda")
    big = np.random.default_rng(1).standard_normal((40, 4)).astype(np.float32)
    w, b = model.get_weights()
    np.testing.assert_allclose(model.predict(big[::2], batch_size=7), big[::2] @ w + b, rtol=1e-5, atol=1e-6)
    assert model._native.session.data_streamed("predict")


@pytest.mark.parametrize("bad", ["lots", "12Q", "-5", "1.5G"])
def test_bad_budget_is_a_clear_error(monkeypatch, cuda_device, bad):
    monkeypatch.setenv("KCC_CUDA_DATA_BYTES", bad)
    x = Input(shape=(4,))
    model = Model(x, Dense(2)(x))
    model.compile(optimizer="sgd", loss="mse", device="cuda")
    with pytest.raises(ValueError, match=f"KCC_CUDA_DATA_BYTES must be a number of bytes.*got '{bad}'"):
        model.predict(np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("budget", ["", "0"], ids=["resident", "streamed"])
def test_predictions_in_batches_equal_the_cpu(monkeypatch, cuda_device, budget):
    """Each batch's outputs leave the device through alternating buffers while the next
    batch runs: every output's rows land in their place, a last partial batch included."""
    monkeypatch.setenv("KCC_CUDA_DATA_BYTES", budget)
    kcc.utils.set_random_seed(7)
    gpu = _two_in_two_out()
    gpu.compile(optimizer="sgd", loss="binary_crossentropy", device="cuda")
    cpu = _two_in_two_out()
    cpu.compile(optimizer="sgd", loss="binary_crossentropy")
    cpu.set_weights(gpu.get_weights())
    x, _ = _data()
    want = cpu.predict(x, batch_size=len(x[0]))
    for batch_size in (1, 7, 16, 83, 200):
        got = gpu.predict(x, batch_size=batch_size)
        for k, (a, b) in enumerate(zip(got, want)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"batch {batch_size}, output {k}")
        assert gpu._native.session.data_streamed("predict") == (budget == "0")
