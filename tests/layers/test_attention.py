"""Attention (Luong dot-product) against Keras 3.15 (torch backend) with the same weights:
[query, value] and [query, value, key], use_scale (the trained scale included), causal, the
attention scores as an output, predict and fit 2 epochs as Keras; gradients (the scale's,
and through Attention()([h, v, h]), whose scores read one input twice) against
central differences of a float64 numpy reference; refused arguments; config and JSON."""
import numpy as np
import keras_parity
import pytest
from numerics_ref import assert_grads_close, native_gradients, numeric_grad, randomize

import kcc
from kcc.graph.trace import lower
from kcc.layers import Attention, Dense, Flatten, Input
from kcc.models import Model, model_from_json


def net(L, M, causal, scale, key):
    q, v = L.Input(shape=(5, 4)), L.Input(shape=(7, 3))
    ins = [q, v]
    qq = L.Dense(4, name="dq")(q)
    if key:
        ins.append(L.Input(shape=(7, 4)))
        args = [qq, v, ins[2]]
    else:
        args = [qq, L.Dense(4, name="dv")(v)]
    y, s = L.Attention(use_scale=scale, name="att")(args, use_causal_mask=causal,
                                                    return_attention_scores=True)
    x = L.concatenate([L.Flatten()(y), L.Flatten()(s)])
    return M(ins, L.Dense(2, activation="softmax", name="head")(x))


@pytest.mark.parametrize("causal, scale, key", [(False, False, False), (True, True, False),
                                                (False, True, True)])
def test_fits_as_keras(causal, scale, key):
    keras = keras_parity.keras()
    ours = net(kcc.layers, Model, causal, scale, key)
    theirs = net(keras.layers, keras.Model, causal, scale, key)
    assert ours.output_shape == theirs.output_shape
    att = ours.get_layer("att")
    assert [(w.path, w.shape) for w in att.weights] == [
        (w.path, tuple(w.shape)) for w in theirs.get_layer("att").weights]
    if scale:
        att.set_weights([np.array(1.7, np.float32)])
    rng = np.random.default_rng(int(causal) + 2 * int(key))
    x = [rng.normal(size=(8,) + tuple(t.shape[1:])).astype(np.float32) for t in ours.inputs]
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    keras_parity.assert_fits_as_keras(ours, theirs, ["dq", "att", "head"] + ([] if key else ["dv"]),
                                      x, y)
    if scale:
        assert att.get_weights()[0] != np.float32(1.7)         # the scale trained


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("causal", [False, True])
def test_gradients_match_finite_differences(causal):
    """Query and key are one tensor (h h^T reads one input twice, the op's two gradients sum
    into one), the value another."""
    x = Input(shape=(5, 3))
    h = Dense(4, name="pre")(x)
    v = Dense(2, name="val")(x)
    a = Attention(use_scale=True, name="att")([h, v, h], use_causal_mask=causal)
    model = Model(x, Dense(2, name="out")(Flatten()(a)))
    model.compile("sgd", "mse")
    assert [op.attrs["operands"] for op in lower(model).ops if op.family == "matmul"][0] == [0, 0]
    rng = np.random.default_rng(8)
    params = randomize(model, rng, scale=0.7)
    model.get_layer("att").scale.assign(np.float32(0.8))
    params["att/scale"] = np.float64(np.float32(0.8))
    xs = rng.normal(size=(3, 5, 3)).astype(np.float32)
    ys = rng.normal(size=(3, 2)).astype(np.float32)

    def forward(p):
        hh = xs.astype(np.float64) @ p["pre/kernel"] + p["pre/bias"]
        s = p["att/scale"] * hh @ hh.transpose(0, 2, 1)
        if causal:
            s = np.where(np.tril(np.ones((5, 5), bool)), s, -np.inf)
        a = softmax(s) @ (xs.astype(np.float64) @ p["val/kernel"] + p["val/bias"])
        return a.reshape(len(xs), -1) @ p["out/kernel"] + p["out/bias"]

    np.testing.assert_allclose(model.predict(xs, verbose=0), forward(params), rtol=1e-5, atol=1e-5)
    _, native = native_gradients(model, xs, ys)
    params = {k: np.array(v) for k, v in params.items()}
    reference = numeric_grad(lambda p: float(np.mean((forward(p) - ys) ** 2)), params)
    assert_grads_close(native, reference, what=f"attention causal={causal}")


def test_refused_and_bad_arguments():
    q = Input(shape=(5, 4))
    with pytest.raises(NotImplementedError, match=r"att \(Attention\): score_mode='concat'"):
        Attention(score_mode="concat", name="att")
    with pytest.raises(ValueError, match="Expected one of {'dot', 'concat'}. Received: score_mode=sum"):
        Attention(score_mode="sum")
    with pytest.raises(ValueError, match="`dropout`, expected a float in the range"):
        Attention(dropout=1.5)
    with pytest.raises(NotImplementedError, match=r"att \(Attention\): `mask` is not supported"):
        Attention(name="att")([q, q], mask=[None, None])
    with pytest.raises(ValueError, match="must be called on a list of inputs"):
        Attention()(q)
    with pytest.raises(ValueError, match="accepts inputs list of length 2 or 3"):
        Attention()([q, q, q, q])
    with pytest.raises(ValueError, match="the query and the key need the same last dimension"):
        Attention()([q, Input(shape=(6, 3))])
    with pytest.raises(ValueError, match="the same number of timesteps"):
        Attention()([q, Input(shape=(6, 3)), Input(shape=(5, 4))])
    with pytest.raises(NotImplementedError, match=r"\(batch, timesteps, dim\)"):
        Attention()([Input(shape=(4,)), Input(shape=(4,))])


def test_config_and_json_round_trip(tmp_path):
    q, v = Input(shape=(5, 4)), Input(shape=(6, 4))
    att = Attention(use_scale=True, dropout=0.2, seed=3, name="att")
    y = att([q, v], use_causal_mask=True)
    model = Model([q, v], Dense(2)(Flatten()(y)))
    config = att.get_config()
    assert (config["use_scale"], config["score_mode"], config["dropout"], config["seed"]) == (
        True, "dot", 0.2, 3)
    assert Attention.from_config(config).get_config() == config
    rebuilt = model_from_json(model.to_json())
    att.set_weights([np.array(1.3, np.float32)])
    model.save_weights(tmp_path / "w.weights.h5")          # the 0-d scale stays 0-d in the file
    rebuilt.load_weights(tmp_path / "w.weights.h5")
    assert rebuilt.get_layer("att").get_weights()[0].shape == ()
    assert rebuilt.get_layer("att").get_weights()[0] == np.float32(1.3)
    rng = np.random.default_rng(9)
    data = [rng.normal(size=(4, 5, 4)).astype(np.float32), rng.normal(size=(4, 6, 4)).astype(np.float32)]
    np.testing.assert_allclose(rebuilt.predict(data, verbose=0), model.predict(data, verbose=0),
                               rtol=1e-6)
    # causal: the first query sees only the first value, whatever the others hold
    changed = [data[0], data[1].copy()]
    changed[1][:, 1:] += 5.0
    first = Model([q, v], y)
    np.testing.assert_allclose(first.predict(changed, verbose=0)[:, 0],
                               first.predict(data, verbose=0)[:, 0], rtol=1e-6)


@pytest.mark.parametrize("masked", ["query", "value"])
def test_masked_inputs_are_refused_not_ignored(masked):
    """Keras 3 masks the attention scores with the inputs' Keras masks; kcc does not yet, so a
    mask from Embedding(mask_zero=True) into either input, of Attention or of
    MultiHeadAttention, is a clear error rather than the dropped-mask warning."""
    from kcc.layers import Embedding, MultiHeadAttention
    ids, x = Input(shape=(6,), dtype="int32"), Input(shape=(6, 8))
    e = Embedding(10, 8, mask_zero=True)(ids)
    q, v = (e, x) if masked == "query" else (x, e)
    for call in (lambda: Attention()([q, v]), lambda: MultiHeadAttention(2, 4)(q, v)):
        with pytest.raises(NotImplementedError, match="mask the attention scores"):
            call()
    Attention()([x, x])   # no mask: fine
