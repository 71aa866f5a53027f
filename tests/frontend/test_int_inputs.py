"""int32 tensors, as Keras 3 takes them:
- a layer that computes in float32 (Dense, Conv2D, LSTM, pooling, merges, activations...)
  reads an int32 input's values as floats, through one cast op per int32 tensor in the
  traced graph, shared by every float layer that reads it (kcc/templates/layers/cast.*.j2);
- ids reach an Embedding as they are or through Flatten/Reshape views, range-checked on
  the model input against the smallest table that reads them;
- a model output that is int32 (ids handed on by views) comes back from predict as int32,
  and a loss reads it as floats."""
import numpy as np
import pytest

import kcc.layers
from kcc.graph.trace import GraphBuilder, lower
from kcc.layers import (LSTM, Activation, Conv2D, Dense, Dropout, Embedding, Flatten,
                        GlobalAveragePooling2D, Input, MaxPooling2D, Reshape, TimeDistributed,
                        ZeroPadding2D, add, concatenate, maximum, multiply)
from kcc.models import Model
from kcc.training.callbacks import Callback


def _casts(model):
    """The values the traced graph casts to float32, in order."""
    return [op.inputs[0] for op in lower(model).ops if op.family == "cast"]


def test_float_layers_compute_on_int_values_as_floats():
    """Each layer called on an int32 image and on the same values as float32 gives the same
    numbers; the image is cast once for all six layers that read it."""
    xi, xf = Input(shape=(4, 4, 1), dtype="int32", name="img"), Input(shape=(4, 4, 1), name="imgf")
    layers = [Conv2D(2, (2, 2)), MaxPooling2D(), GlobalAveragePooling2D(), ZeroPadding2D(),
              Activation("sigmoid"), Dropout(0.3)]
    dense, lstm = Dense(3, name="dense"), LSTM(2)
    on_int = [lay(xi) for lay in layers] + [dense(Flatten()(xi)), lstm(Reshape((4, 4))(xi))]
    on_float = [lay(xf) for lay in layers] + [dense(Flatten()(xf)), lstm(Reshape((4, 4))(xf))]
    assert all(t.dtype == "float32" for t in on_int)
    model = Model([xi, xf], on_int + on_float)
    # one cast per int32 tensor: the image, and the two views the Dense and the LSTM read
    assert _casts(model) == ["img", "flatten_1", "reshape_1"]
    x = np.random.default_rng(0).integers(-9, 10, (5, 4, 4, 1)).astype(np.int32)
    outs = model.predict([x, x.astype(np.float32)])
    for a, b in zip(outs[:8], outs[8:]):
        np.testing.assert_array_equal(a, b)
    w, b = dense.get_weights()
    np.testing.assert_allclose(outs[6], x.reshape(5, 16).astype(np.float64) @ w + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(outs[5], x.astype(np.float32))   # Dropout: identity in predict


def test_merges_take_int_inputs():
    a, f = Input(shape=(3,), dtype="int32", name="a"), Input(shape=(3,), name="f")
    model = Model([a, f], [add([a, f]), concatenate([a, a]), multiply([a, f]), maximum([f, a])])
    assert [t.dtype for t in model.outputs] == ["float32"] * 4
    assert _casts(model) == ["a"]
    xa = np.array([[1, -2, 3], [40, 5, -60]], np.int32)
    xf = np.array([[0.5, 0.25, -1.0], [2.0, 8.0, -70.0]], np.float32)
    s, c, p, m = model.predict([xa, xf])
    np.testing.assert_array_equal(s, xa + xf)
    np.testing.assert_array_equal(c, np.concatenate([xa, xa], 1).astype(np.float32))
    np.testing.assert_array_equal(p, xa * xf)
    np.testing.assert_array_equal(m, np.maximum(xa, xf))


def test_nested_models_and_time_distributed_read_int_inputs_as_floats():
    fi = Input(shape=(3,))
    sub = Model(fi, Dense(2)(fi))                  # a float32 Input, called on int32 tensors
    ii = Input(shape=(3,), dtype="int32")
    inner_dense = Dense(2)
    inner = Model(ii, inner_dense(Reshape((3,))(ii)))   # ids in, cast inside, per timestep
    td_dense = Dense(2)
    seq, ids = Input(shape=(4, 3), dtype="int32"), Input(shape=(3,), dtype="int32")
    model = Model([seq, ids], [TimeDistributed(td_dense)(seq), TimeDistributed(sub)(seq), sub(ids),
                               TimeDistributed(inner)(seq)])
    # seq once (before the fold), ids once, the inner Reshape's view once (on n * 4 rows)
    assert _casts(model) == ["input_3", "input_4", "reshape_1"]
    xs = np.arange(24, dtype=np.int32).reshape(2, 4, 3) - 5
    xi = np.arange(6, dtype=np.int32).reshape(2, 3) * 3
    a, b, c, d = model.predict([xs, xi])
    w, bias = td_dense.get_weights()
    np.testing.assert_allclose(a, xs.astype(np.float64) @ w + bias, rtol=1e-5, atol=1e-5)
    w, bias = inner_dense.get_weights()
    np.testing.assert_allclose(d, xs.astype(np.float64) @ w + bias, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(b, sub.predict(xs.reshape(8, 3).astype(np.float32)).reshape(2, 4, 2))
    np.testing.assert_array_equal(c, sub.predict(xi.astype(np.float32)))
    # the other way, float32 values into an int32 Input, are not ids: refused by name
    with pytest.raises(ValueError, match=r"Input 0 of model model_\d+ \(called for node 1\) is "
                                         r"incompatible.*\(int32\), received shape \(None, 3\) "
                                         r"\(float32\)"):
        Model(ii, Flatten()(ii))(Input(shape=(3,)))


def test_ids_reach_an_embedding_directly_or_time_distributed():
    ids = Input(shape=(3,), dtype="int32")
    model = Model(ids, Embedding(10, 2, name="emb")(ids))
    x = (np.arange(6, dtype=np.int32).reshape(2, 3) * 7) % 10
    np.testing.assert_array_equal(model.predict(x), model.get_layer("emb").get_weights()[0][x])
    # TimeDistributed(Embedding) on (None, T, k) ids: the same lookup, range-checked ids
    seq = Input(shape=(4, 3), dtype="int32")
    emb = Embedding(10, 2)
    td = Model(seq, TimeDistributed(emb)(seq))
    xs = (np.arange(24, dtype=np.int32).reshape(2, 4, 3) * 3) % 10
    np.testing.assert_array_equal(td.predict(xs), emb.get_weights()[0][xs])
    with pytest.raises(ValueError, match=r"input_dim=10.*received ids from 0 to 10"):
        td.predict(np.full((1, 4, 3), 10, np.int32) * (np.arange(12).reshape(1, 4, 3) > 0))


def test_ids_through_views_are_range_checked_on_the_model_input():
    """Reshape/Flatten views of one input feed two tables: the ids are checked on the input,
    against the smaller table, before native code reads memory with them."""
    ids = Input(shape=(2, 3), dtype="int32", name="ids")
    big, small = Embedding(10, 2, name="big"), Embedding(7, 3, name="small")
    model = Model(ids, [big(Reshape((6,))(ids)), small(Flatten()(ids)), big(TimeDistributed(Reshape((3, 1)))(ids))])
    assert lower(model).id_bounds == {"ids": (7, "small")}
    x = np.random.default_rng(1).integers(0, 7, (4, 2, 3)).astype(np.int32)
    a, b, c = model.predict(x)
    np.testing.assert_array_equal(a, big.get_weights()[0][x.reshape(4, 6)])
    np.testing.assert_array_equal(b, small.get_weights()[0][x.reshape(4, 6)])
    np.testing.assert_array_equal(c, big.get_weights()[0][x.reshape(4, 2, 3, 1)])
    x[3, 1, 2] = 8      # inside big's table, outside small's
    with pytest.raises(ValueError, match=r"Layer small has input_dim=7, so the ids in input 'ids' "
                                         r"must lie in \[0, 7\); received ids from 0 to 8"):
        model.predict(x)


def test_ids_an_op_computed_are_refused_by_the_embedding_rule():
    """Only views of an input can be checked; a computed int32 value (no layer makes one
    today) is refused by name when the table would read it."""
    g = GraphBuilder("m")
    x = g.add_input("ids", (3,), "int32")
    g.begin_node("shuffle", 0)
    y = g.op("transpose", [x], (3,), dtype="int32")
    g.begin_node("emb", 0)
    with pytest.raises(ValueError, match=r"Layer emb reads integer ids, which must come from an "
                                         r"Input\(dtype='int32'\), as they are or through "
                                         r"Flatten/Reshape; received shuffle, which layer shuffle computes"):
        g.require_ids_below(y, 10)


def test_an_int32_output_comes_back_as_int32():
    """The values are copied as they are: no float round trip (2**24 + 1 would not survive one)."""
    ids = Input(shape=(4,), dtype="int32", name="ids")
    model = Model(ids, [Flatten()(ids), Reshape((2, 2))(ids), ids, Dense(1)(ids)])
    x = np.array([[2**31 - 1, -2**31, 2**24 + 1, 0], [1, 2, 3, 4]], np.int32)
    for outs in (model.predict(x), model.predict_on_batch(x), model.predict(x, batch_size=1)):
        assert [o.dtype for o in outs] == [np.int32, np.int32, np.int32, np.float32]
        np.testing.assert_array_equal(outs[0], x)
        np.testing.assert_array_equal(outs[1], x.reshape(2, 2, 2))
        np.testing.assert_array_equal(outs[2], x)

    class EachBatch(Callback):
        def on_predict_batch_end(self, batch, logs=None):
            self.seen = logs["outputs"][0].dtype

    cb = EachBatch()
    outs = model.predict(x, batch_size=1, callbacks=[cb])
    assert cb.seen == np.int32 and outs[0].dtype == np.int32
    np.testing.assert_array_equal(outs[0], x)


def test_a_loss_reads_an_int32_output_as_floats():
    """Keras's losses cast what they are given: the int32 output's loss is the mse of its
    values as floats, while predict still returns the ints."""
    ids = Input(shape=(4,), dtype="int32", name="ids")
    model = Model(ids, [Dense(2, name="head")(ids), Flatten(name="echo")(ids)])
    model.compile("sgd", ["mse", "mae"])
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 9]], np.int32)
    y = [np.zeros((2, 2), np.float32), (x * 0.5).astype(np.float32)]
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    assert logs["echo_loss"] == pytest.approx(np.mean(np.abs(x * 0.5)), rel=1e-6)
    w, b = model.get_layer("head").get_weights()
    assert logs["head_loss"] == pytest.approx(np.mean((x @ w + b) ** 2), rel=1e-5)
    first = model.fit(x, y, epochs=3, verbose=0).history["head_loss"]
    assert first[-1] < first[0]
    assert model.predict(x)[1].dtype == np.int32


def test_flatten_channels_first_refuses_to_reorder_ids():
    with pytest.raises(ValueError, match=r"Layer flat \(Flatten, data_format='channels_first'\) "
                                         r"moves channels last, which kcc does for float32 tensors "
                                         r"only; received the int32 tensor ids of shape "
                                         r"\(None, 2, 3\)\. Flatten ids with Flatten\(\)"):
        Flatten(data_format="channels_first", name="flat")(Input(shape=(2, 3), dtype="int32", name="ids"))
    # one channel: nothing moves, a view of the ids
    assert Flatten(data_format="channels_first")(Input(shape=(1, 3), dtype="int32")).dtype == "int32"


def _keras():
    """Keras 3 on the torch backend, or skip (the reference, not a dependency)."""
    import os
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def test_matches_keras():
    """The same model in Keras 3 and in kcc, with the same weights: int32 ids read as floats
    by a Dense and an add, looked up through a Reshape, handed on as an int32 output; the
    same predictions, output dtypes and losses."""
    keras = _keras()

    def build(L, Model):
        ids = L.Input(shape=(2, 3), dtype="int32", name="ids")
        feats = L.Input(shape=(6,), name="feats")
        h = L.Dense(4, activation="tanh", name="feat")(L.Flatten()(ids))
        e = L.Flatten()(L.Embedding(10, 2, name="emb")(L.Reshape((6,))(ids)))
        head = L.Dense(2, name="head")(L.concatenate([h, e]))
        return Model([ids, feats], [head, L.add([L.Flatten()(ids), feats], name="sum"),
                                    L.Reshape((6,), name="echo")(ids)])

    ours, theirs = build(kcc.layers, Model), build(keras.layers, keras.Model)
    for name in ("feat", "emb", "head"):
        theirs.get_layer(name).set_weights(ours.get_layer(name).get_weights())
    rng = np.random.default_rng(2)
    x = [rng.integers(0, 10, (5, 2, 3)).astype(np.int32), rng.normal(size=(5, 6)).astype(np.float32)]
    got, want = ours.predict(x), theirs.predict(x, verbose=0)
    assert [a.dtype for a in got] == [np.dtype(b.dtype) for b in want] == [np.float32, np.float32, np.int32]
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[2], want[2])
    y = [rng.normal(size=(5, 2)).astype(np.float32), rng.normal(size=(5, 6)).astype(np.float32),
         rng.normal(size=(5, 6)).astype(np.float32)]
    ours.compile("sgd", "mse")
    theirs.compile("sgd", "mse")
    got = ours.evaluate(x, y, return_dict=True, verbose=0)
    want = theirs.evaluate(x, y, return_dict=True, verbose=0)
    for key in ("loss", "head_loss", "sum_loss", "echo_loss"):
        assert got[key] == pytest.approx(want[key], rel=1e-5), key
