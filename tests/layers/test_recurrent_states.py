"""return_state and initial_state of LSTM, GRU and SimpleRNN, as Keras 3: the encoder-decoder
pattern of the functional API.

    enc_out, h, c = LSTM(64, return_state=True)(enc_emb)
    dec = LSTM(64, return_sequences=True)(dec_emb, initial_state=[h, c])

Forward against the float64 numpy recurrence (test_recurrent_forward.rnn_reference), every
cell, sequences or not, forwards and backwards, states from Input layers; gradients against
finite differences, flowing from the final states back into the encoder and from the
decoder into its initial states; the call's errors; summary and config round trip; and a
model trained for 2 epochs against Keras 3 (torch backend) with the same weights.
"""
import os
import sys

import numpy as np
import pytest

from kcc.layers import GRU, LSTM, Dense, Flatten, Input, SimpleRNN, concatenate
from kcc.models import Model, model_from_json
from kcc.utils import clear_session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_recurrent_forward import CELL_IDS, CELLS, random_weights, rnn_reference  # noqa: E402
from test_recurrent_gradients import check_gradients, dense, mse, randomize, rnn  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()


def _states(cell):
    return 2 if cell == "lstm" else 1


# -- forward ----------------------------------------------------------------------------------
def test_forward_every_cell_with_initial_and_final_states():
    """One model, every cell twice (last output, forwards / whole sequence, backwards), each
    started from states fed as model inputs and returning [output, h(, c)]."""
    rng = np.random.default_rng(50)
    x, h0, c0 = Input(shape=(5, 3)), Input(shape=(4,)), Input(shape=(4,))
    data = [rng.normal(size=(3, 5, 3)).astype(np.float32),
            rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)]
    outs, refs = [], []
    for cell, cls, kwargs in CELLS:
        for seq, back in ((False, False), (True, True)):
            layer = cls(4, return_state=True, return_sequences=seq, go_backwards=back, **kwargs)
            got = layer(x, initial_state=[h0, c0][:_states(cell)])
            assert [t.shape for t in got] == [(None, 5, 4) if seq else (None, 4)] + \
                [(None, 4)] * _states(cell)
            outs += got
            refs += rnn_reference(cell, data[0], *random_weights(layer, rng), return_sequences=seq,
                                  go_backwards=back, initial_state=data[1:1 + _states(cell)],
                                  return_state=True, **kwargs)
    model = Model([x, h0, c0], outs)
    for k, (got, ref) in enumerate(zip(model.predict(data, verbose=0), refs)):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-5, err_msg=f"output {k}")
    # not vacuous: the initial state changes the output
    zero = model.predict([data[0], 0 * data[1], 0 * data[2]], verbose=0)
    assert np.abs(zero[0] - refs[0]).max() > 1e-2


# -- gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize("cell, cls, kwargs", CELLS, ids=CELL_IDS)
def test_gradients_through_final_and_initial_states(cell, cls, kwargs):
    """pre = Dense(x); encoder cell(return_state, go_backwards)(pre) -> [o, h(, c)];
    decoder cell(return_sequences, return_state)(pre, initial_state=[h, c or Dense(s)]);
    head = Dense(concatenate([o, Flatten(decoder sequence), decoder h(, c)])) -> mse.
    The encoder's h and c get gradients from the decoder's first step (its initial state)
    besides o; the decoder's final states, from the head. An LSTM's c0 comes from a Dense
    of an Input, so that Dense's gradient is the decoder's dc0."""
    rng = np.random.default_rng(51)
    inp, side = Input(shape=(4, 3)), Input(shape=(5,))
    pre = Dense(4, activation="tanh", name="pre")(inp)
    enc = cls(5, return_state=True, go_backwards=True, name="enc", **kwargs)(pre)
    init = [enc[1], Dense(5, activation="tanh", name="side")(side)] if cell == "lstm" else [enc[1]]
    dec = cls(5, return_sequences=True, return_state=True, name="dec", **kwargs)(
        pre, initial_state=init)
    out = Dense(2, name="head")(concatenate([enc[0], Flatten()(dec[0])] + dec[1:]))
    model = Model([inp, side], out)
    model.compile(optimizer="sgd", loss="mse")
    randomize(model, rng, scale=1.5)
    x = [rng.normal(size=(7, 4, 3)).astype(np.float32), rng.normal(size=(7, 5)).astype(np.float32)]
    y = rng.normal(size=(7, 2)).astype(np.float32)

    def total(p):
        hp = dense(p, "pre", x[0], "tanh")
        e = rnn(p, "enc", cell, hp, go_backwards=True, return_state=True, **kwargs)
        s0 = [e[1], dense(p, "side", x[1], "tanh")] if cell == "lstm" else [e[1]]
        d = rnn(p, "dec", cell, hp, return_sequences=True, return_state=True, initial_state=s0,
                **kwargs)
        feats = np.concatenate([e[0], d[0].reshape(len(hp), -1)] + d[1:], axis=-1)
        return mse(dense(p, "head", feats), y)

    check_gradients(model, x, y, total, f"encoder-decoder {cell} {kwargs}")


# -- the call's checks, config, summary ------------------------------------------------------------
def test_initial_state_errors_name_the_layer_and_the_states():
    x = Input(shape=(5, 3))
    h, c, wide = Input(shape=(4,)), Input(shape=(4,)), Input(shape=(6,))
    with pytest.raises(ValueError, match=r"Layer dec \(LSTM\): `initial_state` expects 2 tensors "
                                         r"of shape \(batch, 4\) \(\[h, c\]\); received 1"):
        LSTM(4, name="dec")(x, initial_state=[h])
    with pytest.raises(ValueError, match=r"Layer g \(GRU\): `initial_state` expects 1 tensor of "
                                         r"shape \(batch, 4\) \(\[h\]\); its state h has shape "
                                         r"\(None, 6\)"):
        GRU(4, name="g")(x, initial_state=wide)
    with pytest.raises(ValueError, match=r"its state c has shape \(None, 6\)"):
        LSTM(4)(x, initial_state=[h, wide])
    with pytest.raises(TypeError, match=r"its state h is of type ndarray"):
        SimpleRNN(4)(x, initial_state=[np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"received 3 tensor"):
        SimpleRNN(4)(x, initial_state=[h, c, h])
    # a single tensor is a list of one, as in Keras
    assert SimpleRNN(4)(x, initial_state=h).shape == (None, 4)


def test_summary_and_config_round_trip():
    """The states are inputs 1.. of the node and outputs 1.. of the call: to_json and back
    gives the same graph and, with the same weights, the same predictions."""
    rng = np.random.default_rng(52)
    enc_in, dec_in = Input(shape=(5, 3), name="enc_in"), Input(shape=(4, 2), name="dec_in")
    _, h, c = LSTM(6, return_state=True, name="enc")(enc_in)
    dec, dh = GRU(6, return_sequences=True, return_state=True, name="dec")(dec_in, initial_state=h)
    out = Dense(2, name="out")(concatenate([Flatten()(dec), dh, c]))
    model = Model([enc_in, dec_in], [out, dh])
    lines = []
    model.summary(print_fn=lines.append, line_length=140, positions=[0.25, 0.6, 0.7, 1.0])
    text = "\n".join(lines)
    assert "[(None, 6), (None, 6), (None, 6)]" in text and "[(None, 4, 6), (None, 6)]" in text
    assert "enc[0][1]" in text and "dec_in[0][0]" in text
    clone = model_from_json(model.to_json())
    assert clone.get_layer("enc").return_state and clone.get_layer("dec").return_state
    assert [n.layer.name for n in clone.get_layer("dec").inbound_nodes[0].parent_nodes] == \
        ["dec_in", "enc"]
    clone.set_weights(model.get_weights())
    data = [rng.normal(size=(3, 5, 3)).astype(np.float32), rng.normal(size=(3, 4, 2)).astype(np.float32)]
    for a, b in zip(clone.predict(data, verbose=0), model.predict(data, verbose=0)):
        np.testing.assert_array_equal(a, b)


# -- against Keras 3 -----------------------------------------------------------------------------
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _encoder_decoder(L, Model):
    """Every way in and out: LSTM states into an LSTM decoder, GRU final states (backwards,
    sequences) into a reset-before GRU as one tensor, a SimpleRNN started from an Input."""
    enc_in, dec_in = L.Input(shape=(5, 3), name="enc_in"), L.Input(shape=(4, 2), name="dec_in")
    s0 = L.Input(shape=(4,), name="s0")
    enc_out, h, c = L.LSTM(6, return_state=True, name="enc")(enc_in)
    dec = L.LSTM(6, return_sequences=True, name="dec")(dec_in, initial_state=[h, c])
    g, gh = L.GRU(4, return_sequences=True, return_state=True, go_backwards=True, name="gru")(dec)
    g2 = L.GRU(4, reset_after=False, name="gru2")(g, initial_state=gh)
    r = L.SimpleRNN(4, name="rnn")(g, initial_state=[s0])
    out = L.Dense(3, activation="softmax", name="out")(L.concatenate([enc_out, g2, r]))
    return Model([enc_in, dec_in, s0], [out, gh])


def test_encoder_decoder_fit_and_predict_match_keras():
    keras = _keras()
    ours = _encoder_decoder(__import__("kcc").layers, Model)
    theirs = _encoder_decoder(keras.layers, keras.Model)
    for layer in ours.layers:
        if layer.weights:
            theirs.get_layer(layer.name).set_weights(layer.get_weights())
    rng = np.random.default_rng(53)
    x = [rng.normal(size=(8, 5, 3)).astype(np.float32), rng.normal(size=(8, 4, 2)).astype(np.float32),
         rng.normal(size=(8, 4)).astype(np.float32)]
    y = [np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)], rng.normal(size=(8, 4)).astype(np.float32)]
    for a, b in zip(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for m in (ours, theirs):
        m.compile(optimizer="sgd", loss=["categorical_crossentropy", "mse"])
    h_ours = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    h_theirs = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h_ours["loss"], h_theirs["loss"], rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    for a, b in zip(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
