"""device= on compile(): bad values, machines without CUDA, and fit, weight sync and
CPU/GPU interchange (on the GPU, or host-emulated where there is none: gpu.cuda_device)."""
import numpy as np
import pytest

import kcc
from gpu import cuda_device, gpu_reason  # noqa: F401 (cuda_device: a fixture)
from kcc.layers import Dense, Input
from kcc.models import Model


def _mlp():
    # fixed layer names: a second copy loads the first one's weights file by name
    x = Input(shape=(8,))
    h = Dense(16, activation="relu", name="hidden")(x)
    return Model(x, Dense(3, activation="softmax", name="probs")(h))


@pytest.mark.parametrize("bad", ["tpu", "cuda:1", "", 3, None.__class__])
def test_bad_device_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="Invalid device .*expected 'cpu' or 'cuda'"):
        _mlp().compile(optimizer="sgd", loss="categorical_crossentropy", device=bad)


def test_set_device_validates():
    with pytest.raises(ValueError, match="Invalid device"):
        kcc.backend.set_device("metal")
    assert kcc.backend.device() in ("cpu", "cuda")


@pytest.mark.skipif(not gpu_reason(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("KCC_CUDA_EMULATE", raising=False)
    from kcc.runtime.cuda import CudaUnavailable
    from kcc.build import BuildError
    with pytest.raises((CudaUnavailable, BuildError), match="device='cuda'"):
        _mlp().compile(optimizer="sgd", loss="categorical_crossentropy", device="cuda")


def _data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    w = rng.standard_normal((8, 3))
    y = np.eye(3, dtype=np.float32)[np.argmax(x @ w, axis=1)]
    return x, y


def test_bad_emulate_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("KCC_CUDA_EMULATE", "yes")
    with pytest.raises(ValueError, match="KCC_CUDA_EMULATE must be 0 or 1; got 'yes'"):
        _mlp().compile(optimizer="sgd", loss="categorical_crossentropy", device="cuda")


@pytest.mark.cuda
def test_fit_on_gpu_reduces_the_loss_and_cpu_predicts_the_same(tmp_path, cuda_device):
    kcc.utils.set_random_seed(0)
    x, y = _data()
    model = _mlp()
    model.compile(optimizer=kcc.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"], device="cuda")
    hist = model.fit(x, y, batch_size=32, epochs=5, verbose=0, validation_split=0.2)
    loss = hist.history["loss"]
    assert loss[-1] < 0.7 * loss[0], loss
    assert "val_loss" in hist.history
    gpu_pred = model.predict(x)
    path = tmp_path / "w.safetensors"
    model.save_weights(path)                      # device weights were copied back
    cpu_model = _mlp()
    cpu_model.load_weights(path)
    np.testing.assert_allclose(cpu_model.predict(x), gpu_pred, rtol=1e-4, atol=1e-6)


@pytest.mark.cuda
def test_set_weights_reaches_the_device(cuda_device):
    x, _ = _data(16)
    model = _mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", device="cuda")
    before = model.predict(x)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    after = model.predict(x)
    np.testing.assert_allclose(after, np.full_like(before, 1.0 / 3.0), rtol=1e-6)


@pytest.mark.cuda
def test_gpu_fit_is_seeded(cuda_device):
    x, y = _data(256, seed=1)
    runs = []
    for _ in range(2):
        kcc.utils.set_random_seed(3)
        model = _mlp()
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy", device="cuda")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.cuda
def test_gpu_training_is_deterministic(cuda_device):
    """Bit for bit, twice: an embedding with repeated ids (its gradient adds them in
    position order, no atomics), a recurrence, a shared layer's calls stacked into one op,
    split-K weight gradients. What this checks needs a GPU, where atomics really race; the
    emulation's check of the embedding's order is test_emulated.py's bit-for-bit test."""
    from kcc.layers import LSTM, Embedding, concatenate
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 5, (96, 7)).astype(np.int32)
    aux = [rng.standard_normal((96, 6)).astype(np.float32) for _ in range(2)]
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 96)]
    runs = []
    for _ in range(2):
        kcc.utils.set_random_seed(5)
        tokens, a, b = Input((7,), dtype="int32"), Input((6,)), Input((6,))
        shared = Dense(4, activation="tanh", name="shared")
        h = concatenate([LSTM(3, name="lstm")(Embedding(5, 4, name="emb")(tokens)), shared(a), shared(b)])
        model = Model([tokens, a, b], Dense(3, activation="softmax", name="out")(h))
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy", device="cuda")
        model.fit([ids] + aux, y, batch_size=32, epochs=2, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.cuda
@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_gpu_sample_weights_train_as_the_cpu(cuda_device, loss):
    """The weights travel in the last slot of each target row (after a class id for sparse
    targets): the CUDA loss reads them as the C++ one does, in fit and evaluate."""
    x, y = _data(96, seed=2)
    if loss.startswith("sparse"):
        y = np.argmax(y, axis=1)
    sw = np.random.default_rng(5).uniform(0.0, 3.0, len(x)).astype(np.float32)
    runs = []
    for device in ("cuda", "cpu"):
        kcc.utils.set_random_seed(4)
        model = _mlp()
        model.compile(optimizer="sgd", loss=loss, device=device)
        h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=True, sample_weight=sw,
                      validation_data=(x[:32], y[:32], sw[:32]))
        runs.append((h.history, model.get_weights(), model.evaluate(x, y, sample_weight=sw, verbose=0)))
    (h_gpu, w_gpu, e_gpu), (h_cpu, w_cpu, e_cpu) = runs
    for key in h_cpu:
        np.testing.assert_allclose(h_gpu[key], h_cpu[key], rtol=1e-4, err_msg=key)
    for a, b in zip(w_gpu, w_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert e_gpu == pytest.approx(e_cpu, rel=1e-4)
