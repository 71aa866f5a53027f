"""RepeatVector and Permute: a small seq2seq-like model (Dense -> RepeatVector -> LSTM ->
Permute -> ...) predicting and trained 2 epochs as Keras 3 (torch) with the same weights;
gradients through both (RepeatVector's summed over its copies, Permute's 2-axis and
general transposes) against finite differences of a float64 numpy reference; the lowering
(views when nothing moves); RepeatVector in one CUDA launch each way; config round trip
and errors."""
import re

import keras_parity
import numpy as np
from numerics_ref import assert_grads_close, assign_normal, numeric_grad
import pytest

import kcc
from kcc.graph.trace import lower
from kcc.layers import Dense, Flatten, Input, Permute, RepeatVector, Reshape
from kcc.models import Model, model_from_json
from kcc.runtime.cuda import cuda_source


def _seq2seq(L, Model):
    x = L.Input(shape=(4,))
    h = L.Dense(3, activation="tanh", name="enc")(x)
    h = L.RepeatVector(5, name="repeat")(h)                          # (5, 3)
    h = L.LSTM(6, return_sequences=True, name="dec")(h)              # (5, 6)
    h = L.Permute((2, 1), name="swap")(h)                            # (6, 5)
    h = L.Reshape((2, 3, 5))(h)
    h = L.Permute((3, 1, 2), name="roll")(h)                         # (5, 2, 3): a 2-D transpose
    h = L.Permute((2, 3, 1), name="general")(L.Reshape((5, 3, 2))(h))   # (3, 2, 5): 3 axes
    return Model(x, L.Dense(2, activation="softmax", name="out")(L.Flatten()(h)))


def test_seq2seq_predicts_and_fits_as_keras():
    keras = keras_parity.keras()
    ours, theirs = _seq2seq(kcc.layers, Model), _seq2seq(keras.layers, keras.Model)
    assert ours.output_shape == theirs.output_shape
    assert [ours.get_layer(n).output_shape for n in ("repeat", "swap", "roll", "general")] == \
        [(None, 5, 3), (None, 6, 5), (None, 5, 2, 3), (None, 3, 2, 5)]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 12)]
    keras_parity.assert_fits_as_keras(ours, theirs, ("enc", "dec", "out"), x, y)


def test_gradients_match_finite_differences():
    x_in = Input(shape=(4,))
    h = Dense(4, activation="tanh", name="a")(x_in)
    h = Permute((2, 1))(RepeatVector(3)(h))                          # (4, 3)
    h = Permute((3, 2, 1))(Reshape((2, 2, 3))(h))                    # (3, 2, 2)
    h = Dense(3, activation="tanh", name="b")(Flatten()(h))
    model = Model(x_in, Dense(1, name="c")(h))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(2)
    params = assign_normal(model, rng, 0.7)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    y = rng.normal(size=(3, 1)).astype(np.float32)

    def forward(p):
        h = np.tanh(x.astype(np.float64) @ p["a/kernel"] + p["a/bias"])
        h = np.repeat(h[:, None, :], 3, axis=1).transpose(0, 2, 1)
        h = h.reshape(3, 2, 2, 3).transpose(0, 3, 2, 1).reshape(3, -1)
        return np.tanh(h @ p["b/kernel"] + p["b/bias"]) @ p["c/kernel"] + p["c/bias"]

    def loss(p):
        return float(np.mean((forward(p) - y) ** 2))

    np.testing.assert_allclose(model.predict(x, verbose=0), forward(params), atol=1e-5)
    _, native = model._native.gradients(model._x(x), model._y(y))
    reference = numeric_grad(loss, params)
    assert_grads_close(native, reference, what="repeat/permute")


def test_lowering_moves_only_what_moves():
    x = Input(shape=(1, 4, 3))
    ops = {}
    for dims in ((1, 2, 3), (2, 1, 3), (1, 3, 2), (3, 2, 1)):
        ops[dims] = Permute(dims)(x)
    r1 = RepeatVector(1)(Flatten()(x))
    g = lower(Model(x, list(ops.values()) + [r1]))
    by_name = {v: op for op in g.ops for v in op.outputs}
    kinds = [by_name.get(t._keras_history[0].name) for t in ops.values()]
    assert kinds[0] is None and kinds[1] is None             # a view: only the size-1 axis moves
    assert kinds[2].attrs == {"rows": 4, "cols": 3}          # (4, 3) -> (3, 4)
    assert kinds[3].attrs == {"rows": 4, "cols": 3}
    assert r1.shape == (None, 1, 12) and not any(op.family == "concat" for op in g.ops)


def test_cuda_unit_repeats_in_one_launch_each_way():
    x = Input(shape=(4,))
    model = Model(x, Dense(1)(Flatten()(RepeatVector(5)(Dense(3)(x)))))
    model.compile("sgd", "mse")
    source = cuda_source(model._native)
    name = re.search(r"// (\w+): concat of 5 input\(s\)", source).group(1)
    for side in ("forward", "backward"):
        body = re.search(rf"\nvoid {name}_{side}\(.*?\n}}\n", source, re.S).group(0)
        assert body.count("kcc::cuda::each(") == 1 and "cudaMemcpy" not in body, body


def test_config_round_trip_and_errors():
    x = Input(shape=(3,))
    y = Permute((2, 1), name="p")(RepeatVector(4, name="r")(x))
    model = model_from_json(Model(x, y).to_json())
    assert model.get_layer("r").get_config()["n"] == 4
    assert tuple(model.get_layer("p").get_config()["dims"]) == (2, 1)
    assert model.output_shape == (None, 3, 4)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=r"RepeatVector.*n="):
            RepeatVector(bad)
    with pytest.raises(ValueError, match=r"layer rv.*ndim=2"):
        RepeatVector(2, name="rv")(Input(shape=(2, 3)))
    for bad in ((1, 1), (0, 1), (2, 3), (1.5, 2), "ab"):
        with pytest.raises(ValueError, match=r"Permute.*dims"):
            Permute(bad)
    with pytest.raises(ValueError, match=r"Layer pm \(Permute, dims=\(2, 1\)\).*has 3"):
        Permute((2, 1), name="pm")(Input(shape=(2, 3, 4)))
