"""MultiHeadAttention against Keras 3.15 (torch backend) with the same weights: a transformer
encoder block (MHA + add + LayerNormalization + Dense(gelu) + Dense + add + LayerNormalization)
causal and not, and cross-attention (its own key, value_dim, output_shape, use_bias=False, the
attention scores as an output, a bias constraint) predict and fit 2 epochs as Keras (weights
after included); the weights' names, shapes and order are Keras's; gradients (every weight and,
through a Dense in front, the input's; an l2 kernel_regularizer) against central differences of
a float64 numpy reference; dropout only in training; refused arguments; config and JSON."""
import numpy as np
import keras_parity
import pytest
from numerics_ref import assert_grads_close, native_gradients, numeric_grad, randomize

import kcc
from kcc.layers import Dense, Flatten, Input, MultiHeadAttention
from kcc.models import Model, model_from_json

T, D = 6, 8


def encoder_block(L, M, causal):
    x = L.Input(shape=(T, D))
    a = L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x, use_causal_mask=causal)
    h = L.LayerNormalization(name="ln1")(L.add([x, a]))
    f = L.Dense(D, name="ff2")(L.Dense(16, activation="gelu", name="ff1")(h))
    h = L.LayerNormalization(name="ln2")(L.add([h, f]))
    return M(x, L.Dense(2, activation="softmax", name="head")(L.Flatten()(h)))


@pytest.mark.parametrize("causal", [False, True])
def test_encoder_block_fits_as_keras(causal):
    keras = keras_parity.keras()
    ours, theirs = encoder_block(kcc.layers, Model, causal), encoder_block(keras.layers, keras.Model, causal)
    mha, kmha = ours.get_layer("mha"), theirs.get_layer("mha")
    assert [w.path for w in mha.weights] == [w.path for w in kmha.weights]
    assert [tuple(w.shape) for w in mha.weights] == [tuple(w.shape) for w in kmha.weights]
    assert mha.weights[0].path == "mha/query/kernel" and mha.weights[0].shape == (D, 2, 4)
    keras_parity.assert_fits_as_keras(ours, theirs, ["mha", "ln1", "ff1", "ff2", "ln2", "head"],
                                      *_data(np.random.default_rng(int(causal))))


def _data(rng, n=8):
    return (rng.normal(size=(n, T, D)).astype(np.float32),
            np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)])


def cross(L, M):
    """A value (7, 4) with its own key (7, 3): one MHA with value_dim, output_shape=4, no
    biases and its scores as an output, on a query (7, 6) (Keras 3.15's symbolic scores shape
    takes the key's length from the query, (None, 3, Tq, Tq): equal lengths keep it right);
    one causal, on a shorter query (5, 6), with a 2-D output_shape and a bias constraint."""
    q, q5 = L.Input(shape=(7, 6)), L.Input(shape=(5, 6))
    v, k = L.Input(shape=(7, 4)), L.Input(shape=(7, 3))
    y, s = L.MultiHeadAttention(3, 2, value_dim=5, output_shape=4, use_bias=False, name="a")(
        q, v, key=k, return_attention_scores=True)
    z = L.MultiHeadAttention(2, 3, output_shape=(2, 3), bias_constraint="non_neg", name="b")(
        q5, v, k, use_causal_mask=True)
    flat = L.concatenate([L.Flatten()(y), L.Flatten()(s), L.Flatten()(z)])
    return M([q, q5, v, k], L.Dense(2, activation="softmax", name="head")(flat))


def test_cross_attention_and_scores_fit_as_keras():
    keras = keras_parity.keras()
    ours, theirs = cross(kcc.layers, Model), cross(keras.layers, keras.Model)
    assert ours.output_shape == theirs.output_shape
    for name in ("a", "b"):
        assert ([tuple(w.shape) for w in ours.get_layer(name).weights]
                == [tuple(w.shape) for w in theirs.get_layer(name).weights])
    rng = np.random.default_rng(3)
    x = [rng.normal(size=(8,) + tuple(t.shape[1:])).astype(np.float32) for t in ours.inputs]
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    keras_parity.assert_fits_as_keras(ours, theirs, ["a", "b", "head"], x, y)


# -- gradients against finite differences ---------------------------------------------------
def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mha_ref(p, name, q, v, k, heads, key_dim, causal):
    """Keras 3's MultiHeadAttention in float64 (biases present)."""
    def proj(part, x):
        return np.einsum("btd,dhk->bthk", x, p[f"{name}/{part}/kernel"]) + p[f"{name}/{part}/bias"]
    Q, K, V = proj("query", q), proj("key", k), proj("value", v)
    s = np.einsum("bshk,bthk->bhts", K, Q) / np.sqrt(key_dim)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    c = np.einsum("bhts,bshv->bthv", softmax(s), V)
    return (np.einsum("bthv,hvo->bto", c, p[f"{name}/attention_output/kernel"])
            + p[f"{name}/attention_output/bias"])


@pytest.mark.parametrize("causal", [False, True])
def test_gradients_match_finite_differences(causal):
    x = Input(shape=(4, 3))
    h = Dense(5, name="pre")(x)
    a = MultiHeadAttention(2, 3, value_dim=2, kernel_regularizer="l2", name="mha")(
        h, h, use_causal_mask=causal)
    model = Model(x, Dense(2, name="out")(Flatten()(a)))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(4)
    params = randomize(model, rng)
    xs = rng.normal(size=(3, 4, 3)).astype(np.float32)
    ys = rng.normal(size=(3, 2)).astype(np.float32)

    def forward(p):
        hh = xs.astype(np.float64) @ p["pre/kernel"] + p["pre/bias"]
        a = mha_ref(p, "mha", hh, hh, hh, 2, 3, causal)
        return a.reshape(len(xs), -1) @ p["out/kernel"] + p["out/bias"]

    np.testing.assert_allclose(model.predict(xs, verbose=0), forward(params), rtol=1e-5, atol=1e-5)
    _, native = native_gradients(model, xs, ys)
    def loss(p):     # mse, plus Keras's l2 (0.01) on each of the four kernels
        return float(np.mean((forward(p) - ys) ** 2) + 0.01 * sum(
            np.sum(w ** 2) for key, w in p.items() if key.startswith("mha/") and key.endswith("kernel")))

    reference = numeric_grad(loss, params)
    assert_grads_close(native, reference, what=f"mha causal={causal}")


def test_dropout_drops_probabilities_in_training_only():
    def build(rate):
        x = Input(shape=(T, D))
        a = MultiHeadAttention(2, 4, dropout=rate, seed=1, name="mha")(x, x)
        return Model(x, Dense(2, name="out")(Flatten()(a)))
    plain, dropped = build(0.0), build(0.5)
    dropped.set_weights(plain.get_weights())
    x, _ = _data(np.random.default_rng(5))
    y = np.random.default_rng(6).normal(size=(8, 2)).astype(np.float32)
    for m in (plain, dropped):
        m.compile("sgd", "mse")
    np.testing.assert_allclose(dropped.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(dropped.evaluate(x, y, verbose=0), plain.evaluate(x, y, verbose=0),
                               rtol=1e-6)
    _, g0 = native_gradients(plain, x, y)
    _, g1 = native_gradients(dropped, x, y)
    assert not np.allclose(g0["mha/query/kernel"], g1["mha/query/kernel"], rtol=1e-2)
    # the value projection's bias sees every kept probability: its gradient is that of the
    # output bias times the kept share of the probabilities, not zero and not the plain one
    assert np.abs(g1["mha/value/bias"]).max() > 0
    assert not np.allclose(g0["mha/value/bias"], g1["mha/value/bias"], rtol=1e-2)


# -- errors and config ------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, words", [
    (dict(attention_axes=(1, 2)), "attention_axes=(1, 2) is not supported"),
    (dict(sliding_window=2), "sliding_window=2"),
    (dict(use_gate=True), "use_gate=True"),
    (dict(flash_attention=True), "flash_attention=True"),
    (dict(activity_regularizer="l2"), "activity_regularizer='l2'"),
])
def test_refused_arguments(kwargs, words):
    with pytest.raises(NotImplementedError, match="MultiHeadAttention") as err:
        MultiHeadAttention(2, 4, name="m", **kwargs)
    assert words in str(err.value)


@pytest.mark.parametrize("name", ["attention_mask", "query_mask", "value_mask", "key_mask"])
def test_masks_are_refused_by_name(name):
    x = Input(shape=(T, D))
    with pytest.raises(NotImplementedError, match=f"m .MultiHeadAttention.: `{name}` is not"):
        MultiHeadAttention(2, 4, name="m")(x, x, **{name: x})


def test_bad_arguments_and_shapes():
    with pytest.raises(ValueError, match="`num_heads`, expected a positive integer. Received: num_heads=0"):
        MultiHeadAttention(0, 4)
    with pytest.raises(ValueError, match="`key_dim`.*Received: key_dim=2.5"):
        MultiHeadAttention(2, 2.5)
    with pytest.raises(ValueError, match="invalid `output_shape`"):
        MultiHeadAttention(2, 4, output_shape="wide")
    x = Input(shape=(T, D))
    with pytest.raises(TypeError, match="needs `value`"):
        MultiHeadAttention(2, 4)(x)
    with pytest.raises(ValueError, match="All dimensions of `value` and `key`, except the last"):
        MultiHeadAttention(2, 4)(x, x, key=Input(shape=(T + 1, D)))
    with pytest.raises(NotImplementedError, match=r"\(batch, timesteps, features\)"):
        MultiHeadAttention(2, 4)(Input(shape=(2, 3, D)), Input(shape=(2, 3, D)))
    mha = MultiHeadAttention(2, 4, name="m")
    mha(x, x)
    with pytest.raises(ValueError, match="Input 0 of layer m"):
        mha(Input(shape=(T, D + 1)), x)
    assert mha(Input(shape=(3, D)), x).shape == (None, 3, D)      # other timesteps: fine


def test_config_and_json_round_trip():
    x = Input(shape=(T, D))
    mha = MultiHeadAttention(2, 4, value_dim=3, output_shape=5, dropout=0.1, name="m",
                             kernel_regularizer="l2")
    y, s = mha(x, x, use_causal_mask=True, return_attention_scores=True)
    model = Model(x, [Dense(2)(Flatten()(y)), Flatten()(s)])
    config = mha.get_config()
    assert (config["num_heads"], config["key_dim"], config["value_dim"], config["output_shape"],
            config["dropout"]) == (2, 4, 3, (5,), 0.1)
    again = MultiHeadAttention.from_config(config)
    assert again.get_config() == config
    rebuilt = model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    data = _data(np.random.default_rng(7))[0]
    for a, b in zip(rebuilt.predict(data, verbose=0), model.predict(data, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    scores = model.predict(data, verbose=0)[1].reshape(8, 2, T, T)
    assert np.all(scores[:, :, np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] == 0)  # causal
    np.testing.assert_allclose(scores.sum(-1), 1, rtol=1e-5)


def test_each_call_keeps_its_own_flags():
    """One layer called causal inside a nested model and plain outside: two nodes, two
    masks, one set of weights."""
    x = Input(shape=(5, 4))
    mha = MultiHeadAttention(2, 3, name="m")
    inner = Model(x, mha(x, x, use_causal_mask=True))
    y = Input(shape=(5, 4))
    outer = Model(y, [inner(y), mha(y, y)])
    data = np.random.default_rng(10).normal(size=(2, 5, 4)).astype(np.float32)
    causal, plain = outer.predict(data, verbose=0)
    np.testing.assert_allclose(causal, inner.predict(data, verbose=0), rtol=1e-6)
    assert not np.allclose(causal, plain, rtol=1e-3)
    np.testing.assert_allclose(causal[:, -1], plain[:, -1], rtol=1e-5)   # the last query sees all
    later = data.copy()
    later[:, 1:] += 3.0                # the first query sees only the first step when causal
    np.testing.assert_allclose(outer.predict(later, verbose=0)[0][:, 0], causal[:, 0], rtol=1e-5)
