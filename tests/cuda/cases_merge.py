"""CUDA cases: Embedding, the merge layers (concatenate, the element-wise merges, Dot, in
their Keras 1/2/3 spellings), Flatten(data_format='channels_first') (the transpose op) and
shared layers."""
import numpy as np

from kcc import optimizers
from kcc.layers import (Add, Average, Concatenate, Dense, Dot, Embedding, Flatten, Input,
                        Maximum, Minimum, Multiply, Reshape, Subtract, add, average, concatenate,
                        dot, maximum, merge, minimum, multiply, subtract)
from kcc.models import Model


def _normal(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _onehot(rng, n, k):
    return np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]


def _ids(rng, n, length, vocab):
    # repeated ids on purpose (vocab small): the scatter-add must sum them
    return rng.integers(0, vocab, (n, length)).astype(np.int32)


def _regression(model, xs, rng, outs, optimizer=None, loss="mse", metrics=("mae",)):
    n = len(xs[0])
    return dict(model=model, x=xs, y=[_normal(rng, n, *o) for o in outs], loss=loss,
                optimizer=optimizer or optimizers.SGD(learning_rate=0.05), metrics=list(metrics))


# -- embedding ------------------------------------------------------------------------------
def embedding_flatten_dense(rng):
    ids = Input(shape=(6,), dtype="int32")
    h = Embedding(9, 5, name="emb")(ids)
    y = Dense(4, activation="softmax")(Flatten()(h))
    return dict(model=Model(ids, y), x=[_ids(rng, 7, 6, 9)], y=[_onehot(rng, 7, 4)],
                loss="categorical_crossentropy", optimizer=optimizers.Adam(learning_rate=0.01),
                metrics=["accuracy"])


def embedding_time_dense(rng):
    # Dense on (L, D): per-timestep rows, then Flatten; the rows are an output too, its loss
    # weighed per timestep (weights (n, L)), and weighted metrics on both outputs
    ids = Input(shape=(5,), dtype="int32")
    h = Dense(3, activation="tanh")(Embedding(11, 4)(ids))
    y = Dense(2)(Flatten()(h))
    case = _regression(Model(ids, [y, h]), [_ids(rng, 6, 5, 11)], rng, [(2,), (5, 3)],
                       optimizer=optimizers.RMSprop(learning_rate=0.01))
    steps = np.array([2.0, 0.5, 0.0, 1.0, 4.0], np.float32)
    return dict(case, weighted_metrics=["mae", "mse"],
                sample_weight=[np.where(np.arange(6) % 2, 0.5, 2.0).astype(np.float32),
                               np.stack([np.roll(steps, k) for k in range(6)])])


def embedding_shared_two_inputs(rng):
    # one table read by two inputs: the second backward accumulates into dW
    a, b = Input(shape=(3,), dtype="int32"), Input(shape=(4,), dtype="int32")
    emb = Embedding(6, 5, name="shared_emb")
    h = concatenate([Flatten()(emb(a)), Flatten()(emb(b))])
    y = Dense(3)(h)
    return _regression(Model([a, b], y), [_ids(rng, 8, 3, 6), _ids(rng, 8, 4, 6)], rng, [(3,)])


def embedding_frozen_table(rng):
    ids = Input(shape=(4,), dtype="int32")
    table = _normal(rng, 7, 3)
    h = Embedding(7, 3, weights=[table], trainable=False)(ids)
    y = Dense(2)(Flatten()(h))
    return _regression(Model(ids, y), [_ids(rng, 5, 4, 7)], rng, [(2,)])


def int_ids_as_features(rng):
    # int32 ids read as floats (the cast op: once for the ids, shared by a Dense and an add,
    # once for their Flatten view) and looked up through a Reshape view
    ids = Input(shape=(2, 3), dtype="int32")
    h = Dense(4, activation="tanh")(Flatten()(ids))
    t = add([Dense(3)(ids), ids])                              # (2, 3)
    e = Flatten()(Embedding(8, 2)(Reshape((6,))(ids)))
    y = Dense(2)(concatenate([h, Flatten()(t), e]))
    return _regression(Model(ids, y), [_ids(rng, 7, 6, 8).reshape(7, 2, 3)], rng, [(2,)])


# -- concatenate ----------------------------------------------------------------------------
def concat_dense_slices(rng):
    # both Dense outputs are read by the concat only: written in place (no copy)
    x = Input(shape=(6,))
    a = Dense(4, activation="relu")(x)
    b = Dense(3, activation="tanh")(x)
    y = Dense(2)(concatenate([a, b]))
    return _regression(Model(x, y), [_normal(rng, 7, 6)], rng, [(2,)])


def concat_shared_reader(rng):
    # `a` is read by the concat and by another Dense: copied, and its gradient accumulates
    x = Input(shape=(5,))
    a = Dense(4, activation="elu")(x)
    b = Dense(3)(x)
    c = Dense(2)(a)
    h = Concatenate()([a, b, c])
    y = Dense(3)(h)
    return _regression(Model(x, [y, c]), [_normal(rng, 6, 5)], rng, [(3,), (2,)],
                       loss=["mse", "mae"], metrics=[])


def concat_model_inputs(rng):
    # model inputs concatenated (one twice), then Dense; also a concat on a middle axis
    a, b = Input(shape=(3,)), Input(shape=(4,))
    p, q = Input(shape=(2, 3)), Input(shape=(1, 3))
    h = concatenate([a, b, a])
    m = Flatten()(Concatenate(axis=1)([p, q, p]))          # (5, 3) -> 15
    k = Flatten()(concatenate([p, p], axis=-1))             # (2, 6) -> 12
    y = Dense(2)(concatenate([h, m, k]))
    xs = [_normal(rng, 5, 3), _normal(rng, 5, 4), _normal(rng, 5, 2, 3), _normal(rng, 5, 1, 3)]
    return _regression(Model([a, b, p, q], y), xs, rng, [(2,)])


def concat_middle_axis_grad(rng):
    # concat on a middle axis of Dense outputs (outer > 1: never in place), with gradients;
    # `a` last twice in a row: one launch for both copies, adding to a's gradient so far
    x = Input(shape=(2, 4))
    a = Dense(3)(x)                                          # (2, 3)
    b = Dense(3, activation="relu")(x)                       # (2, 3)
    h = Concatenate(axis=1)([a, b, a, a])                    # (8, 3)
    y = Dense(2)(Flatten()(h))
    return _regression(Model(x, y), [_normal(rng, 6, 2, 4)], rng, [(2,)])


def merge_concat_keras1(rng):
    x = Input(shape=(4,))
    a, b = Dense(3)(x), Dense(2, activation="sigmoid")(x)
    y = Dense(2)(merge([a, b], mode="concat", concat_axis=-1))
    return _regression(Model(x, y), [_normal(rng, 5, 4)], rng, [(2,)])


# -- element-wise ---------------------------------------------------------------------------
def _elementwise(rng, fn, k):
    x = Input(shape=(5,))
    branches = [Dense(4, activation="tanh" if i % 2 else "linear")(x) for i in range(k)]
    y = Dense(3)(fn(branches))
    return _regression(Model(x, y), [_normal(rng, 6, 5)], rng, [(3,)])


def merge_add3(rng):
    return _elementwise(rng, add, 3)


def merge_subtract(rng):
    return _elementwise(rng, subtract, 2)


def merge_multiply3(rng):
    return _elementwise(rng, multiply, 3)


def merge_average3(rng):
    return _elementwise(rng, average, 3)


def merge_maximum3(rng):
    return _elementwise(rng, maximum, 3)


def merge_minimum2(rng):
    return _elementwise(rng, minimum, 2)


def merge_classes_fan_in(rng):
    # each class, a tensor merged with itself (operands [0, 0, 1]), and model inputs that
    # need no gradient
    a, b = Input(shape=(2, 3)), Input(shape=(2, 3))
    x = Flatten()(a)
    d = Reshape((2, 3))(Dense(6)(x))
    outs = [Add()([d, d, b]), Subtract()([d, b]), Multiply()([d, d, b]), Average()([d, b, d]),
            Maximum()([d, b, d]), Minimum()([b, d, d]), Subtract()([d, d])]
    h = concatenate([Flatten()(o) for o in outs])
    y = Dense(2)(h)
    return _regression(Model([a, b], y), [_normal(rng, 5, 2, 3), _normal(rng, 5, 2, 3)], rng,
                       [(2,)])


def merge_keras1_modes(rng):
    x = Input(shape=(4,))
    a, b = Dense(3, activation="relu")(x), Dense(3)(x)
    parts = [merge([a, b], mode="sum"), merge([a, b], mode="mul"), merge([a, b, a], mode="ave"),
             merge([a, b], mode="max"), merge([a, b], mode="dot", dot_axes=1)]
    y = Dense(2)(concatenate(parts))
    return _regression(Model(x, y), [_normal(rng, 6, 4)], rng, [(2,)])


def merge_elementwise_output(rng):
    # the merge is itself a model output (its gradient comes from the loss)
    a, b = Input(shape=(4,)), Input(shape=(4,))
    y = maximum([Dense(4)(a), Dense(4)(b)])
    return _regression(Model([a, b], y), [_normal(rng, 5, 4), _normal(rng, 5, 4)], rng, [(4,)])


# -- dot --------------------------------------------------------------------------------------
def dot_dense_pair(rng):
    # Dot(axes=1) of two Dense outputs, sigmoid head (the guide's siamese-style score)
    a, b = Input(shape=(6,)), Input(shape=(5,))
    score = dot([Dense(8)(a), Dense(8, activation="tanh")(b)], axes=1)
    y = Dense(1, activation="sigmoid")(score)
    return dict(model=Model([a, b], y), x=[_normal(rng, 7, 6), _normal(rng, 7, 5)],
                y=[(rng.random((7, 1)) > 0.5).astype(np.float32)], loss="binary_crossentropy",
                optimizer=optimizers.Adam(learning_rate=0.01), metrics=["binary_accuracy"])


def dot_self_and_input(rng):
    # dot of a tensor with itself (operands [0, 0]) and with a model input (no dx needed)
    a, b = Input(shape=(4,)), Input(shape=(4,))
    h = Dense(4)(a)
    p = Dot(axes=-1)([h, h])
    q = Dot(axes=(1, 1))([b, h])
    y = Dense(2)(concatenate([p, q]))
    return _regression(Model([a, b], [y, p]), [_normal(rng, 6, 4), _normal(rng, 6, 4)], rng,
                       [(2,), (1,)], loss="mse", metrics=[])


# -- Flatten(data_format='channels_first'): the transpose op -----------------------------------
def flatten_channels_first(rng):
    x = Input(shape=(6,))
    h = Reshape((2, 3, 4))(Dense(24, activation="tanh")(x))
    y = Dense(3)(Flatten(data_format="channels_first")(h))
    return _regression(Model(x, y), [_normal(rng, 5, 6)], rng, [(3,)])


def flatten_channels_first_fan_out(rng):
    # the channels_first tensor is also read by a plain Flatten: dx accumulates
    x = Input(shape=(4,))
    h = Reshape((3, 2, 2))(Dense(12)(x))
    t = Flatten(data_format="channels_first")(h)
    f = Flatten()(h)
    y = Dense(2)(add([t, f]))
    return _regression(Model(x, y), [_normal(rng, 6, 4)], rng, [(2,)])


def flatten_channels_first_input(rng):
    # a model input transposed (no dx): the forward only
    x = Input(shape=(3, 5))
    y = Dense(2)(Flatten(data_format="channels_first")(x))
    return _regression(Model(x, y), [_normal(rng, 4, 3, 5)], rng, [(2,)])


# -- shared layers --------------------------------------------------------------------------------
def shared_dense_two_inputs(rng):
    a, b = Input(shape=(5,)), Input(shape=(5,))
    shared = Dense(4, activation="relu", name="shared")
    ha, hb = shared(a), shared(b)
    y = Dense(2)(concatenate([ha, hb, subtract([ha, hb])]))
    return _regression(Model([a, b], y), [_normal(rng, 6, 5), _normal(rng, 6, 5)], rng, [(2,)],
                       optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9))


def shared_dense_stacked_on_one_tensor(rng):
    # both calls read h: stacked, h copied twice into the stacked input (kcc/passes/stack.py),
    # and its two gradient blocks add into dh
    x = Input(shape=(5,))
    h = Dense(3, activation="tanh")(x)
    shared = Dense(4, activation="relu", name="shared_twice")
    y = Dense(2)(concatenate([shared(h), Dense(3)(shared(h))]))
    return _regression(Model(x, y), [_normal(rng, 6, 5)], rng, [(2,)])


def shared_dense_three_calls_in_place(rng):
    # three calls stacked; the Dense layers before them write straight into their blocks of
    # the stacked input; block 0 of the output has two readers
    a, b, c = Input(shape=(3,)), Input(shape=(3,)), Input(shape=(3,))
    shared = Dense(5, activation="tanh", name="shared_three")
    ya, yb, yc = (shared(Dense(4)(t)) for t in (a, b, c))
    y = Dense(2)(concatenate([add([ya, yb]), yc, Dense(2)(ya)]))
    return _regression(Model([a, b, c], y), [_normal(rng, 7, 3) for _ in range(3)], rng, [(2,)],
                       optimizer=optimizers.RMSprop(learning_rate=0.01))


CASES = {f.__name__: f for f in (
    embedding_flatten_dense, embedding_time_dense, embedding_shared_two_inputs,
    embedding_frozen_table, int_ids_as_features,
    concat_dense_slices, concat_shared_reader, concat_model_inputs, concat_middle_axis_grad,
    merge_concat_keras1,
    merge_add3, merge_subtract, merge_multiply3, merge_average3, merge_maximum3, merge_minimum2,
    merge_classes_fan_in, merge_keras1_modes, merge_elementwise_output,
    dot_dense_pair, dot_self_and_input,
    flatten_channels_first, flatten_channels_first_fan_out, flatten_channels_first_input,
    shared_dense_two_inputs, shared_dense_stacked_on_one_tensor, shared_dense_three_calls_in_place)}
