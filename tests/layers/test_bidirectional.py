"""Bidirectional(LSTM / GRU / SimpleRNN) against Keras 3 (torch backend) with the same
weights: predictions for every merge_mode with and without return_sequences, 2 epochs of
fit (history and weights); return_state, initial_state and an explicit backward_layer;
weight names and order, summary counts, to_json and save/load round trips. Gradients
against central differences of a float64 numpy reference. Errors name the layer."""
import os
import sys

import numpy as np
import pytest
from numerics_ref import assert_grads_close, native_gradients, numeric_grad, randomize

import kcc
from kcc.models import Model, load_model, model_from_json
from kcc.utils import clear_session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_recurrent_forward import rnn_reference  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _copy_weights(ours, theirs, names):
    for name in names:
        mine, keras_layer = ours.get_layer(name), theirs.get_layer(name)
        assert [w.shape for w in mine.get_weights()] == \
            [tuple(w.shape) for w in keras_layer.get_weights()], name
        keras_layer.set_weights(mine.get_weights())


def _merges(L, M):
    x = L.Input(shape=(4, 3), name="x")
    a = L.Bidirectional(L.LSTM(3, return_sequences=True), name="a")(x)          # concat
    b = L.Bidirectional(L.GRU(2), merge_mode="sum", name="b")(x)
    c = L.Bidirectional(L.SimpleRNN(2, return_sequences=True), merge_mode="mul", name="c")(x)
    d = L.Bidirectional(L.GRU(2, return_sequences=True, reset_after=False), merge_mode="ave",
                        name="d")(x)
    e, e_rev = L.Bidirectional(L.SimpleRNN(2), merge_mode=None, name="e")(x)
    f = L.Bidirectional(L.LSTM(2), name="f")(x)                                  # concat
    return M(x, [a, b, c, d, e, e_rev, f])


def test_merge_modes_predict_and_fit_like_keras():
    keras = _keras()
    ours, theirs = _merges(kcc.layers, Model), _merges(keras.layers, keras.Model)
    _copy_weights(ours, theirs, "abcdef")
    assert [w.path for w in ours.get_layer("a").weights] == [
        f"{side}_lstm_1/{w}" for side in ("forward", "backward")
        for w in ("kernel", "recurrent_kernel", "bias")]
    for name in "abcdef":
        assert ours.get_layer(name).count_params() == theirs.get_layer(name).count_params()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 3)).astype(np.float32)
    ys = [rng.normal(size=(6,) + tuple(o.shape[1:])).astype(np.float32) for o in theirs.outputs]
    ours.compile(kcc.optimizers.SGD(learning_rate=0.1), "mse")
    theirs.compile(keras.optimizers.SGD(learning_rate=0.1), ["mse"] * len(ys))
    for mine, ref in zip(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-6)
    h1 = ours.fit(x, ys, epochs=2, batch_size=3, shuffle=False, verbose=0)
    h2 = theirs.fit(x, ys, epochs=2, batch_size=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-4)
    for name in "abcdef":
        for mine, ref in zip(ours.get_layer(name).get_weights(),
                             theirs.get_layer(name).get_weights()):
            np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-5, err_msg=name)


def _states(L, M):
    x = L.Input(shape=(5, 3), name="x")
    s = [L.Input(shape=(3,), name=f"s{i}") for i in range(4)]
    y, hf, cf, hb, cb = L.Bidirectional(L.LSTM(3, return_sequences=True, return_state=True),
                                        merge_mode="ave", name="bl")(x, initial_state=s)
    back = L.GRU(2, go_backwards=True, activation="relu", return_state=True, name="mine")
    g, g_rev, gf, gb = L.Bidirectional(L.GRU(2, return_state=True), merge_mode=None,
                                       backward_layer=back, name="bg")(y)
    return M([x] + s, [y, hf, cf, hb, cb, g, g_rev, gf, gb])


def test_states_and_backward_layer_like_keras_and_round_trips(tmp_path):
    keras = _keras()
    ours, theirs = _states(kcc.layers, Model), _states(keras.layers, keras.Model)
    bg = ours.get_layer("bg")
    assert (bg.forward_layer.name, bg.backward_layer.name) == ("forward_gru_1", "mine")
    _copy_weights(ours, theirs, ["bl", "bg"])
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(4, 5, 3)).astype(np.float32)] + \
        [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(4)]
    ours.compile("sgd", "mse")
    expected = ours.predict(xs, verbose=0)
    for mine, ref in zip(expected, theirs.predict(xs, verbose=0)):
        np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-6)
    # the config and the weights come back: to_json, and save / load_model
    again = model_from_json(ours.to_json())
    again.set_weights(ours.get_weights())
    ours.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    for model in (again, loaded):
        bg = model.get_layer("bg")
        assert (bg.merge_mode, bg.backward_layer.name, bg.backward_layer.activation) == \
            (None, "mine", "relu")
        model.compile("sgd", "mse")
        for mine, ref in zip(model.predict(xs, verbose=0), expected):
            np.testing.assert_allclose(mine, ref, rtol=1e-6, atol=1e-7)


def test_gradients_match_finite_differences():
    x = kcc.layers.Input(shape=(3, 2))
    h = kcc.layers.Bidirectional(kcc.layers.SimpleRNN(2, return_sequences=True), name="b1")(x)
    h = kcc.layers.Bidirectional(kcc.layers.LSTM(2, return_sequences=True), merge_mode="mul",
                                 name="b2")(h)
    g = kcc.layers.Bidirectional(kcc.layers.GRU(2), merge_mode="sum", name="b3")(h)
    model = Model(x, [kcc.layers.Dense(1, name="out")(h), g])
    model.compile("sgd", "mse")
    rng = np.random.default_rng(2)
    randomize(model, rng)
    xs = rng.normal(size=(5, 3, 2)).astype(np.float32)
    ys = [rng.normal(size=(5, 3, 1)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)]

    def rnn(p, layer, cell, inp, **kw):
        return rnn_reference(cell, inp, p[f"{layer}/kernel"], p[f"{layer}/recurrent_kernel"],
                             p[f"{layer}/bias"], **kw)

    def both(p, cell, inp, seq):
        fwd = rnn(p, f"forward_{cell}_1", cell, inp, return_sequences=seq)
        bwd = rnn(p, f"backward_{cell}_1", cell, inp, return_sequences=seq, go_backwards=True)
        return fwd, (bwd[:, ::-1] if seq else bwd)

    def loss(p):
        f, b = both(p, "simple_rnn", xs, True)
        f, b = both(p, "lstm", np.concatenate([f, b], -1), True)
        h = f * b
        out = h @ p["out/kernel"] + p["out/bias"]
        gf, gb = both(p, "gru", h, False)
        return np.mean((out - ys[0]) ** 2) + np.mean((gf + gb - ys[1]) ** 2)

    sums, grads = native_gradients(model, xs, ys)
    params = {w.path: w.numpy().astype(np.float64) for w in model.weights}
    assert sums[0] / len(xs) == pytest.approx(loss(params), rel=1e-5)
    assert_grads_close(grads, numeric_grad(loss, params), what="Bidirectional")


def test_errors_name_the_layer():
    L = kcc.layers
    with pytest.raises(ValueError, match=r"bidirectional_1 \(Bidirectional\).*recurrent layer.*"
                                         r"received layer dense_1 \(Dense\)"):
        L.Bidirectional(L.Dense(2))
    with pytest.raises(ValueError, match=r"invalid merge_mode 'max'.*'sum', 'mul', 'ave', "
                                         r"'concat' or None"):
        L.Bidirectional(L.LSTM(2), merge_mode="max", name="bi")
    with pytest.raises(ValueError, match=r"bi2 \(Bidirectional\).*different `go_backwards`"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2), name="bi2")
    with pytest.raises(ValueError, match=r"bi3 \(Bidirectional\).*same `return_sequences`"):
        L.Bidirectional(L.LSTM(2), backward_layer=L.LSTM(2, go_backwards=True,
                                                         return_sequences=True), name="bi3")
    x = L.Input(shape=(4, 3))
    with pytest.raises(ValueError, match=r"bi4 \(Bidirectional\): `initial_state` expects 4 "
                                         r"tensors.*received 2"):
        L.Bidirectional(L.LSTM(2), name="bi4")(x, initial_state=[L.Input((2,)), L.Input((2,))])
    with pytest.raises(ValueError, match=r"layer bi5 is incompatible.*expected ndim=3, "
                                         r"found ndim=2"):
        L.Bidirectional(L.GRU(2), name="bi5")(L.Input(shape=(3,)))
