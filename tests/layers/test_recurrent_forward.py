"""LSTM, GRU and SimpleRNN: arguments, shapes, Keras's weight layout, and the compiled
forward pass against a float64 numpy reference of Keras's formulas.

The reference (`rnn_reference`, also used by test_recurrent_gradients.py) is written from
Keras 3's cells: LSTM gates i, f, c, o; GRU gates z, r, h with reset_after (bias (2, 3U):
input row, recurrent row) or not (Keras 2, bias (3U,)); SimpleRNN. The state starts at
zero; go_backwards reads the sequence from its end and, with return_sequences, returns the
states in that (processing) order, as Keras does. Weights go in through set_weights in
Keras's layout, so matching the reference means matching Keras.
"""
import numpy as np
import pytest

from kcc import activations, initializers
from kcc.layers import GRU, LSTM, Dense, Input, SimpleRNN
from kcc.models import Model
from kcc.utils import clear_session

RTOL, ATOL = 1e-4, 2e-5


def _act(name, z):
    return activations.reference(name)(z)


def rnn_reference(cell, x, kernel, recurrent_kernel, bias=None, activation="tanh",
                  recurrent_activation="sigmoid", return_sequences=False, go_backwards=False,
                  reset_after=True, initial_state=None, return_state=False, mask=None,
                  zero_output=False):
    """Keras's recurrence in float64. cell: 'lstm', 'gru' or 'simple_rnn'. initial_state:
    [h0] ([h0, c0] for LSTM), zeros when None; return_state: [output, h] ([output, h, c]).
    mask: (n, steps), a masked step keeps the states and outputs them (zeros with
    zero_output), as Keras's backend rnn (from zero states)."""
    x = np.asarray(x, np.float64)
    n, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    W, R = np.asarray(kernel, np.float64), np.asarray(recurrent_kernel, np.float64)
    b = np.zeros(W.shape[1]) if bias is None else np.asarray(bias, np.float64)
    if cell == "gru" and reset_after:
        b_in, b_rec = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))
    h, c, outs = np.zeros((n, units)), np.zeros((n, units)), []
    if initial_state is not None:
        h = np.asarray(initial_state[0], np.float64)
        if cell == "lstm":
            c = np.asarray(initial_state[1], np.float64)
    for t in (range(steps - 1, -1, -1) if go_backwards else range(steps)):
        xt, h_prev, c_prev = x[:, t], h, c
        if cell == "lstm":
            i, f, g, o = np.split(xt @ W + h @ R + b, 4, axis=-1)
            i, f, o = (_act(recurrent_activation, v) for v in (i, f, o))
            c = f * c + i * _act(activation, g)
            h = o * _act(activation, c)
        elif cell == "gru":
            x_z, x_r, x_h = np.split(xt @ W + (b_in if reset_after else b), 3, axis=-1)
            if reset_after:
                q_z, q_r, q_h = np.split(h @ R + b_rec, 3, axis=-1)
            else:
                q_z, q_r = np.split(h @ R[:, :2 * units], 2, axis=-1)
            z = _act(recurrent_activation, x_z + q_z)
            r = _act(recurrent_activation, x_r + q_r)
            rec_h = r * q_h if reset_after else (r * h) @ R[:, 2 * units:]
            h = z * h + (1 - z) * _act(activation, x_h + rec_h)
        else:
            h = _act(activation, xt @ W + b + h @ R)
        if mask is None:
            outs.append(h)
            continue
        keep = np.asarray(mask)[:, t, None] != 0
        h, c = np.where(keep, h, h_prev), np.where(keep, c, c_prev)
        outs.append(np.where(keep, h, 0.0) if zero_output else h)
    out = np.stack(outs, axis=1) if return_sequences else h
    if return_state:
        return [out, h, c] if cell == "lstm" else [out, h]
    return out


def random_weights(layer, rng, scale=1.0):
    """Random Keras-layout weights set on `layer`; returned as float64 arrays."""
    values = []
    for w in layer.weights:        # kernels N(0, scale^2 / fan_in), biases N(0, 0.2^2)
        std = 0.2 if w.name == "bias" else scale / np.sqrt(w.shape[0])
        values.append(rng.normal(0.0, std, w.shape).astype(np.float32))
    layer.set_weights(values)
    return [v.astype(np.float64) for v in values]


CELLS = [("lstm", LSTM, {}), ("gru", GRU, {}), ("gru", GRU, {"reset_after": False}),
         ("simple_rnn", SimpleRNN, {})]
CELL_IDS = ["lstm", "gru", "gru_reset_before", "simple_rnn"]


# -- arguments, shapes, weights ----------------------------------------------------------------
def test_weight_layout_and_output_shapes():
    clear_session()
    inp = Input(shape=(7, 5))
    lstm, gru, gru2, rnn = LSTM(4), GRU(4), GRU(4, reset_after=False), SimpleRNN(4)
    assert lstm(inp).shape == (None, 4) and lstm.name == "lstm_1"
    assert GRU(3, return_sequences=True)(inp).shape == (None, 7, 3)
    gru(inp), gru2(inp), rnn(inp)
    shapes = lambda layer: [(w.name, w.shape) for w in layer.weights]  # noqa: E731
    assert shapes(lstm) == [("kernel", (5, 16)), ("recurrent_kernel", (4, 16)), ("bias", (16,))]
    assert shapes(gru) == [("kernel", (5, 12)), ("recurrent_kernel", (4, 12)), ("bias", (2, 12))]
    assert shapes(gru2) == [("kernel", (5, 12)), ("recurrent_kernel", (4, 12)), ("bias", (12,))]
    assert shapes(rnn) == [("kernel", (5, 4)), ("recurrent_kernel", (4, 4)), ("bias", (4,))]
    assert rnn.name == "simple_rnn_1" and gru.name == "gru_1"
    assert lstm.count_params() == 4 * (5 * 4 + 4 * 4 + 4)


def test_keras3_defaults():
    lstm = LSTM(3)
    lstm(Input(shape=(2, 4)))
    assert (lstm.activation, lstm.recurrent_activation) == ("tanh", "sigmoid")
    assert lstm.use_bias and not lstm.return_sequences and not lstm.go_backwards
    # unit_forget_bias: the forget gate's bias starts at 1, the others at 0
    np.testing.assert_array_equal(lstm.bias.value, [0] * 3 + [1] * 3 + [0] * 6)
    # orthogonal recurrent kernel: (U, 4U) with orthonormal rows
    R = lstm.recurrent_kernel.value.astype(np.float64)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-5)
    assert isinstance(lstm.kernel_initializer, initializers.GlorotUniform)
    no_forget = LSTM(3, unit_forget_bias=False)
    no_forget(Input(shape=(2, 4)))
    assert np.all(no_forget.bias.value == 0)
    gru = GRU(3)
    assert gru.reset_after and gru.recurrent_activation == "sigmoid"


@pytest.mark.parametrize("cell, cls, kwargs", CELLS, ids=CELL_IDS)
def test_explicit_none_activation_is_linear(cell, cls, kwargs):
    """Keras reads activation=None (and recurrent_activation=None) as linear; kcc took None
    for "not given" and compiled tanh (and sigmoid) instead, silently."""
    rng = np.random.default_rng(12)
    gated = cls is not SimpleRNN
    acts = dict(activation=None, **({"recurrent_activation": None} if gated else {}))
    inp = Input(shape=(4, 3))
    layer = cls(5, return_sequences=True, **acts, **kwargs)
    model = Model(inp, layer(inp))
    assert layer.activation == "linear"
    assert layer.recurrent_activation == "linear"      # SimpleRNN has none: linear
    weights = random_weights(layer, rng, scale=0.5)
    x = rng.normal(0.0, 1.0, (9, 4, 3)).astype(np.float32)
    linear = dict(activation="linear", **({"recurrent_activation": "linear"} if gated else {}))
    expected = rnn_reference(cell, x, *weights, return_sequences=True, **linear, **kwargs)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=RTOL, atol=ATOL)


def test_keras1_and_keras2_spellings():
    clear_session()
    lstm = LSTM(output_dim=6, init="uniform", inner_init="glorot_normal",
                inner_activation="hard_sigmoid", forget_bias_init="zero", input_dim=3,
                input_length=5, consume_less="gpu", dropout_W=0.0, dropout_U=0.0)
    assert lstm.units == 6 and lstm.recurrent_activation == "hard_sigmoid"
    assert isinstance(lstm.kernel_initializer, initializers.RandomUniform)
    assert isinstance(lstm.recurrent_initializer, initializers.GlorotNormal)
    assert lstm._batch_input_shape == (None, 5, 3) and not lstm.unit_forget_bias
    assert lstm(Input(shape=(5, 3))).shape == (None, 6)
    gru = GRU(units=4, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
              kernel_initializer="he_normal", recurrent_initializer="orthogonal",
              return_sequences=True, go_backwards=True, unroll=True, implementation=2,
              input_shape=(5, 3))
    assert gru(Input(shape=(5, 3))).shape == (None, 5, 4)
    assert [w.name for w in gru.weights] == ["kernel", "recurrent_kernel"]
    rnn = SimpleRNN(output_dim=2, init="zero", inner_init="orthogonal")
    rnn(Input(shape=(4, 1)))
    assert np.all(rnn.kernel.value == 0)
    assert LSTM(3, "relu", "tanh").recurrent_activation == "tanh"   # Keras 2 positional order
    # input_dim alone (Keras 1, variable length) only checks the features of the input
    only_dim = GRU(2, input_dim=3)
    assert only_dim._batch_input_shape is None
    assert only_dim(Input(shape=(7, 3))).shape == (None, 2)
    with pytest.raises(ValueError, match=r"gru_3 was declared with input_dim=3.*\(None, 7, 4\)"):
        GRU(2, input_dim=3)(Input(shape=(7, 4)))


@pytest.mark.parametrize("cls, kwargs", [
    (LSTM, {"unit_forget_bias": False, "go_backwards": True, "recurrent_activation": "tanh"}),
    (GRU, {"reset_after": False, "return_sequences": True}), (SimpleRNN, {"activation": "relu"})])
def test_config_round_trip(cls, kwargs):
    layer = cls(3, **kwargs)
    config = {**layer.get_config(), "name": "copy"}
    again = cls.from_config(config)
    assert again.get_config() == config
    again(Input(shape=(4, 2)))
    layer(Input(shape=(4, 2)))
    assert [w.shape for w in again.weights] == [w.shape for w in layer.weights]


@pytest.mark.parametrize("make, message", [
    (lambda: LSTM(-3), r"Received an invalid value for `units`.*units=-3"),
    (lambda: GRU(0), "units=0"),
    (lambda: SimpleRNN(output_dim=2.5), "output_dim=2.5"),
    (lambda: LSTM(), "LSTM needs `units`"),
    (lambda: LSTM(3, activation="softmax"), r"\(LSTM\): `activation`='softmax' is not supported"),
    (lambda: GRU(3, recurrent_activation="swish"), "`recurrent_activation`='silu' is not supported in a recurrent cell"),
    (lambda: LSTM(3, dropout=1.5), r"`dropout`.*\[0, 1\).*dropout=1.5"),
    (lambda: LSTM(3, input_dim=0), "input_dim=0"),
])
def test_bad_arguments_are_value_errors(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize("make, message", [
    (lambda: LSTM(3, dropout=0.2, implementation=1), r"LSTM: `implementation=1` draws a dropout "
                                                     "mask per gate"),
    (lambda: GRU(3, recurrent_dropout=0.1), r"GRU: `recurrent_dropout`=0.1 is not supported"),
    (lambda: LSTM(3, dropout_U=0.5), r"LSTM: `recurrent_dropout`=0.5"),
    (lambda: SimpleRNN(3, stateful=True), r"SimpleRNN: `stateful=True` is not supported"),
    (lambda: LSTM(3, recurrent_regularizer="orthogonal_regularizer", name="lx"),
     "Layer lx: `recurrent_regularizer` is OrthogonalRegularizer, which kcc does not compile"),
    (lambda: GRU(3, U_constraint=lambda w: w, name="gx"),
     "Layer gx: `recurrent_constraint` is .*Python function"),
])
def test_unsupported_features_are_named(make, message):
    with pytest.raises(NotImplementedError, match=message):
        make()


def test_bad_input_shapes_name_the_layer():
    clear_session()
    with pytest.raises(ValueError, match=r"layer lstm_1 .*received shape \(None, 5\).*ndim=3"):
        LSTM(3)(Input(shape=(5,)))
    with pytest.raises(ValueError, match=r"layer gru_1 .*received shape \(None, 2, 3, 4\)"):
        GRU(3)(Input(shape=(2, 3, 4)))
    layer = SimpleRNN(3)
    layer(Input(shape=(6, 4)))
    assert layer(Input(shape=(9, 4))).shape == (None, 3)     # another length is fine
    with pytest.raises(ValueError, match=r"layer simple_rnn_1 .*axis -1 should be 4, found 5"):
        layer(Input(shape=(6, 5)))
    with pytest.raises(ValueError, match="timesteps"):
        LSTM(3).build((None, None, 4))
    inp = Input(shape=(3, 2))
    with pytest.raises(NotImplementedError, match="lstm_3: an explicit `mask=` argument is not supported"):
        LSTM(2)(inp, mask=inp)
    with pytest.raises(ValueError, match=r"lstm_4 \(LSTM\): `initial_state` expects 2 tensors"):
        LSTM(2)(inp, initial_state=[inp])


# -- compiled forward against numpy --------------------------------------------------------------
@pytest.mark.parametrize("cell, cls, kwargs", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
def test_forward_matches_numpy(cell, cls, kwargs, return_sequences, go_backwards):
    rng = np.random.default_rng(10)
    inp = Input(shape=(6, 5))
    layer = cls(7, return_sequences=return_sequences, go_backwards=go_backwards, **kwargs)
    model = Model(inp, layer(inp))
    weights = random_weights(layer, rng)
    x = rng.normal(0.0, 1.0, (37, 6, 5)).astype(np.float32)   # 37 rows: split across threads
    expected = rnn_reference(cell, x, *weights, return_sequences=return_sequences,
                             go_backwards=go_backwards, **kwargs)
    got = model.predict(x, batch_size=37, verbose=0)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(model.predict(x, batch_size=5, verbose=0), expected,
                               rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("cell, cls, kwargs", CELLS, ids=CELL_IDS)
def test_other_activations_and_no_bias(cell, cls, kwargs):
    rng = np.random.default_rng(11)
    gated = cls is not SimpleRNN
    acts = dict(activation="relu", **({"recurrent_activation": "hard_sigmoid"} if gated else {}))
    inp = Input(shape=(4, 3))
    layer = cls(5, use_bias=False, return_sequences=True, **acts, **kwargs)
    model = Model(inp, layer(inp))
    weights = random_weights(layer, rng, scale=0.8)
    x = rng.normal(0.0, 1.0, (9, 4, 3)).astype(np.float32)
    expected = rnn_reference(cell, x, *weights, None, return_sequences=True, **acts, **kwargs)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("cell, cls, kwargs", CELLS, ids=CELL_IDS)
def test_one_step_and_long_sequences(cell, cls, kwargs):
    rng = np.random.default_rng(12)
    for steps in (1, 60):
        inp = Input(shape=(steps, 3))
        layer = cls(4, **kwargs)
        model = Model(inp, layer(inp))
        weights = random_weights(layer, rng)
        x = rng.normal(0.0, 1.0, (5, steps, 3)).astype(np.float32)
        np.testing.assert_allclose(model.predict(x, verbose=0),
                                   rnn_reference(cell, x, *weights, **kwargs),
                                   rtol=RTOL, atol=ATOL, err_msg=f"T={steps}")


def test_stacked_and_shared_in_one_model():
    """LSTM(return_sequences) -> GRU, and one SimpleRNN read by two inputs."""
    rng = np.random.default_rng(13)
    a, b = Input(shape=(5, 3)), Input(shape=(5, 3))
    lstm, gru, shared = LSTM(6, return_sequences=True), GRU(4), SimpleRNN(3)
    model = Model([a, b], [gru(lstm(a)), shared(a), shared(b)])
    wl, wg, ws = (random_weights(layer, rng) for layer in (lstm, gru, shared))
    xa, xb = (rng.normal(0.0, 1.0, (8, 5, 3)).astype(np.float32) for _ in range(2))
    got = model.predict([xa, xb], verbose=0)
    seq = rnn_reference("lstm", xa, *wl, return_sequences=True)
    np.testing.assert_allclose(got[0], rnn_reference("gru", seq, *wg), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got[1], rnn_reference("simple_rnn", xa, *ws), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got[2], rnn_reference("simple_rnn", xb, *ws), rtol=RTOL, atol=ATOL)


def test_large_inputs_stay_finite():
    rng = np.random.default_rng(14)
    inp = Input(shape=(8, 4))
    layer = LSTM(5)
    model = Model(inp, Dense(2)(layer(inp)))
    random_weights(layer, rng, scale=20.0)
    x = (rng.normal(size=(6, 8, 4)) * 50).astype(np.float32)
    assert np.all(np.isfinite(model.predict(x, verbose=0)))
