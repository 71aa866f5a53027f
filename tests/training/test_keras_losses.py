"""Keras 3's other losses (Huber, LogCosh, KLDivergence, Poisson, Hinge, SquaredHinge,
CategoricalHinge, MeanSquaredLogarithmicError, MeanAbsolutePercentageError,
CosineSimilarity): the numpy references against Keras's own functions (clips, epsilons,
Hinge's 0/1 -> -1/1), the native loss values and gradients against float64 numpy (central
differences of the reference) with sample weights, fit against Keras 3 (torch) with the same
weights and sample weights, names and aliases, saving Huber's delta, and bad arguments."""
import os

import numpy as np
import pytest

import kcc
from kcc import losses
from kcc.layers import Dense, Input
from kcc.models import Model

# name -> (Keras 3 class name, head activation, targets(rng, n, d))
LOSSES = {
    "huber": ("Huber", None, lambda r, n, d: r.normal(0, 2, (n, d))),
    "log_cosh": ("LogCosh", None, lambda r, n, d: r.normal(0, 2, (n, d))),
    "kl_divergence": ("KLDivergence", "softmax", lambda r, n, d: r.dirichlet(np.ones(d), n)),
    "poisson": ("Poisson", "softplus", lambda r, n, d: r.poisson(2.0, (n, d))),
    "hinge": ("Hinge", None, lambda r, n, d: (r.random((n, d)) > 0.5) * 1.0),
    "squared_hinge": ("SquaredHinge", None, lambda r, n, d: np.sign(r.random((n, d)) - 0.5)),
    "categorical_hinge": ("CategoricalHinge", None,
                          lambda r, n, d: np.eye(d)[r.integers(0, d, n)]),
    "mean_squared_logarithmic_error": ("MeanSquaredLogarithmicError", "softplus",
                                       lambda r, n, d: r.random((n, d)) * 3),
    "mean_absolute_percentage_error": ("MeanAbsolutePercentageError", None,
                                       lambda r, n, d: r.normal(0, 2, (n, d))),
    "cosine_similarity": ("CosineSimilarity", None, lambda r, n, d: r.normal(0, 1, (n, d))),
}
NAMES = list(LOSSES)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def test_references_match_keras_functions_at_their_edges():
    """Each reference against keras.losses.<fn> on data that reaches the clips: zeros and
    negatives for KLD and MSLE, zero targets for MAPE, a zero row for CosineSimilarity, 0/1
    and -1/1 and other labels for the hinges, errors both sides of Huber's delta."""
    keras = _keras()
    rng = np.random.default_rng(0)
    p = rng.normal(0, 2, (6, 4)).astype(np.float32)
    p[0] = 0.0
    y = rng.normal(0, 2, (6, 4)).astype(np.float32)
    y[1, :2] = 0.0
    y[2] = 0.0
    cases = [("huber", y, p), ("log_cosh", y, p * 30), ("kl_divergence", np.abs(y) / 4, p),
             ("poisson", np.abs(y), np.abs(p)), ("hinge", (y > 0) * 1.0, p),
             ("hinge", np.sign(y), p), ("hinge", y, p), ("squared_hinge", (y > 0) * 1.0, p),
             ("squared_hinge", y, p), ("categorical_hinge", np.eye(4)[[0, 1, 2, 3, 0, 1]], p),
             ("mean_squared_logarithmic_error", y, p), ("mean_absolute_percentage_error", y, p),
             ("cosine_similarity", y, p)]
    for name, t, q in cases:
        t = np.asarray(t, np.float32)
        want = keras.ops.convert_to_numpy(getattr(keras.losses, name)(t, q))
        np.testing.assert_allclose(losses.reference(name, t, q), want, rtol=2e-6, atol=1e-6,
                                   err_msg=name)
    for delta in (0.5, 2.0):
        want = keras.ops.convert_to_numpy(keras.losses.huber(y, p, delta=delta))
        np.testing.assert_allclose(losses.reference(losses.Huber(delta=delta), y, p), want,
                                   rtol=2e-6)
        assert losses.Huber(delta=delta)(y, p) == pytest.approx(
            float(keras.losses.Huber(delta=delta)(y, p)), rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_names_classes_and_aliases_as_keras(name):
    keras = _keras()
    cls_name = LOSSES[name][0]
    ours, theirs = getattr(losses, cls_name)(), getattr(keras.losses, cls_name)()
    assert ours.name == theirs.name
    assert losses.get(ours) == losses.get(cls_name) == losses.get(name) == name
    assert losses.get(getattr(losses, name)) == name
    assert losses.get(getattr(losses, cls_name)) == name


def test_aliases():
    for alias, name in (("kld", "kl_divergence"), ("KLD", "kl_divergence"),
                        ("mape", "mean_absolute_percentage_error"),
                        ("MSLE", "mean_squared_logarithmic_error"), ("logcosh", "log_cosh"),
                        ("kullback_leibler_divergence", "kl_divergence"),
                        ("bce", "binary_crossentropy")):
        assert losses.get(alias) == name
    assert losses.kld is losses.kl_divergence and losses.MAPE is losses.mean_absolute_percentage_error


def _identity_model(names, d):
    """One identity Dense head per loss on one input: each head's output is the input, so
    its kernel gradient is x^T dL/dp."""
    x = Input(shape=(d,))
    heads = [Dense(d, use_bias=False, kernel_initializer="identity", name=f"h{i}")(x)
             for i in range(len(names))]
    return Model(x, heads)


def _inputs(name, rng, n, d):
    """Predictions where the loss is smooth (away from its kinks and clips)."""
    if name in ("kl_divergence", "poisson", "mean_squared_logarithmic_error"):
        return rng.uniform(0.1, 0.9, (n, d))
    return rng.normal(0, 1.5, (n, d))


def _numeric_grad(name, y, p, w, delta=1.0):
    """d/dp of sum_i w_i L_i / n, by central differences of the float64 reference."""
    loss = losses.Huber(delta=delta) if name == "huber" else name
    f = lambda q: np.sum(w * losses.reference(loss, y, q)) / len(q)
    g, h = np.zeros_like(p), 1e-6
    for idx in np.ndindex(p.shape):
        a, b = p.copy(), p.copy()
        a[idx] += h
        b[idx] -= h
        g[idx] = (f(a) - f(b)) / (2 * h)
    return g


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_native_values_and_gradients_against_float64(device, monkeypatch):
    """Every loss on one model (Huber with delta=0.7), host CPU unit and emulated CUDA unit:
    the per-output loss sums with sample weights and each head's kernel gradient against
    float64 numpy."""
    if device == "cuda":
        monkeypatch.setenv("KCC_CUDA_EMULATE", "1")
    rng = np.random.default_rng(3)
    n, d = 6, 4
    model = _identity_model(NAMES, d)
    model.compile("sgd", [losses.Huber(delta=0.7)] + NAMES[1:], device=device)
    xs = [_inputs(name, rng, n, d) for name in NAMES]
    # one input feeds every head, so each head gets its own rows: stack them and use the
    # loss's rows only through the targets of the other heads being irrelevant -> instead
    # compute each head on its own model input
    for k, name in enumerate(NAMES):
        x = xs[k].astype(np.float32)
        ys = [LOSSES[m][2](rng, n, d).astype(np.float32) for m in NAMES]
        w = rng.uniform(0.2, 2.0, n).astype(np.float32)
        sums, grads = model._native.gradients(model._x(x), model._y(ys, sample_weight=w))
        x64, y64 = x.astype(np.float64), ys[k].astype(np.float64)
        loss = losses.Huber(delta=0.7) if name == "huber" else name
        assert sums[1 + k] == pytest.approx(np.sum(w * losses.reference(loss, y64, x64)),
                                            rel=1e-5, abs=1e-6), name
        got = next(g for key, g in grads.items() if key.startswith(f"h{k}/"))
        want = x64.T @ _numeric_grad(name, y64, x64, w.astype(np.float64), 0.7)
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-6, err_msg=name)


def _net(L, M, act, d):
    x = L.Input(shape=(5,), name="x")
    h = L.Dense(6, activation="tanh", name="h")(x)
    return M(x, L.Dense(d, activation=act, name="out")(h))


@pytest.mark.parametrize("name", NAMES)
def test_fit_with_sample_weights_as_keras(name):
    """The same weights in Keras 3 and kcc: 2 epochs of SGD over uneven batches with sample
    weights (history and weights after), then evaluate with and without them."""
    keras = _keras()
    cls_name, act, make_y = LOSSES[name]
    rng = np.random.default_rng(7)
    n, d = 13, 3
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = make_y(rng, n, d).astype(np.float32)
    sw = rng.uniform(0.2, 2.0, n).astype(np.float32)
    ours, theirs = _net(kcc.layers, Model, act, d), _net(keras.layers, keras.Model, act, d)
    for layer in ("h", "out"):
        theirs.get_layer(layer).set_weights(ours.get_layer(layer).get_weights())
    kw = {"delta": 0.5} if name == "huber" else {}
    lr = 0.002 if name == "mean_absolute_percentage_error" else 0.1   # its gradients are 100x
    ours.compile(kcc.optimizers.SGD(lr), getattr(losses, cls_name)(**kw))
    theirs.compile(keras.optimizers.SGD(lr), getattr(keras.losses, cls_name)(**kw))
    h = [m.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0, sample_weight=sw).history
         for m in (ours, theirs)]
    np.testing.assert_allclose(h[0]["loss"], h[1]["loss"], rtol=1e-4, err_msg=name)
    assert h[0]["loss"][0] != h[0]["loss"][1]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
    for kwargs in ({}, {"sample_weight": sw}):
        np.testing.assert_allclose(ours.evaluate(x, y, verbose=0, **kwargs),
                                   theirs.evaluate(x, y, verbose=0, **kwargs), rtol=1e-4,
                                   err_msg=name)


def test_per_output_losses_and_loss_weights_as_keras():
    """Several of them on the outputs of one model, by string, with loss_weights: the
    total and per-output losses of 2 epochs of fit and the weights after."""
    keras = _keras()
    rng = np.random.default_rng(11)

    def build(L, M):
        x = L.Input(shape=(4,), name="x")
        h = L.Dense(5, activation="tanh", name="h")(x)
        return M(x, [L.Dense(3, name="a")(h), L.Dense(3, activation="softmax", name="b")(h),
                     L.Dense(2, name="c")(h)])

    n = 10
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = [rng.normal(size=(n, 3)).astype(np.float32),
         rng.dirichlet(np.ones(3), n).astype(np.float32),
         (rng.random((n, 2)) > 0.5).astype(np.float32)]
    ours, theirs = build(kcc.layers, Model), build(keras.layers, keras.Model)
    for layer in ("h", "a", "b", "c"):
        theirs.get_layer(layer).set_weights(ours.get_layer(layer).get_weights())
    spec = dict(loss=["log_cosh", "kld", "squared_hinge"], loss_weights=[1.0, 2.0, 0.5])
    ours.compile(kcc.optimizers.SGD(0.2), **spec)
    theirs.compile(keras.optimizers.SGD(0.2), **{**spec, "loss": ["log_cosh", "KLD",
                                                                  "squared_hinge"]})
    h = [m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
         for m in (ours, theirs)]
    assert sorted(h[0]) == sorted(h[1])
    for key in h[1]:
        np.testing.assert_allclose(h[0][key], h[1][key], rtol=1e-4, err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_huber_delta_survives_save_and_load(tmp_path):
    model = _identity_model(["huber", "huber"], 3)
    model.compile("sgd", [losses.Huber(delta=0.25), "huber"])
    path = str(tmp_path / "m.kcc")
    model.save(path)
    loaded = kcc.models.load_model(path)
    assert loaded._compile_config.deltas == [0.25, 1.0]
    x = np.array([[0.1, 2.0, -3.0]], np.float32)
    y = [np.zeros((1, 3), np.float32)] * 2
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))
    assert model.evaluate(x, y, verbose=0)[1] == pytest.approx(
        np.mean(losses.huber(y[0], x, delta=0.25)))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="Huber: `delta` must be a non-negative number"):
        losses.Huber(delta=-1)
    with pytest.raises(ValueError, match="CosineSimilarity: only axis=-1 is supported"):
        losses.CosineSimilarity(axis=0)
    with pytest.raises(TypeError):
        losses.Hinge(from_logits=True)
    with pytest.raises(ValueError, match="Unknown loss: .dice."):
        losses.get("dice")
    with pytest.raises(ValueError, match="takes no delta"):
        losses.with_delta("mean_squared_error", 2.0)
    model = _identity_model(["hinge"], 2)
    model.compile("sgd", "hinge")
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="mix rows of 0/1 labels with other values"):
        model.fit(x, np.array([[0, 1], [-1, 1], [1, 1]], np.float32), verbose=0)
    model.fit(x, np.array([[0, 1], [1, 0], [1, 1]], np.float32), verbose=0)     # all 0/1
    model.fit(x, np.array([[-1, 1], [1, 1], [1, -1]], np.float32), verbose=0)   # -1/1


@pytest.mark.parametrize("name", ["cosine_similarity", "categorical_hinge", "huber"])
def test_per_timestep_output_as_keras(name):
    """A Dense over (T, features): the loss per row of the last axis, averaged over samples
    and timesteps, as Keras 3; 2 epochs of fit and the weights after."""
    keras = _keras()
    rng = np.random.default_rng(2)

    def build(L, M):
        x = L.Input(shape=(4, 3), name="x")
        return M(x, L.Dense(5, activation="tanh", name="out")(x))

    x = rng.normal(size=(9, 4, 3)).astype(np.float32)
    y = LOSSES[name][2](rng, 36, 5).reshape(9, 4, 5).astype(np.float32)
    ours, theirs = build(kcc.layers, Model), build(keras.layers, keras.Model)
    theirs.get_layer("out").set_weights(ours.get_layer("out").get_weights())
    ours.compile(kcc.optimizers.SGD(0.3), name)
    theirs.compile(keras.optimizers.SGD(0.3), name)
    h = [m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
         for m in (ours, theirs)]
    np.testing.assert_allclose(h[0], h[1], rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
