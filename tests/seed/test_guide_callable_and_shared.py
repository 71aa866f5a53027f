"""The guide's sections "All models are callable, just like layers", "Shared layers" and
"The concept of layer node", as written (Keras 1 spelling, `keras` -> `kcc`), and what they
promise: a called model reuses its weights, a shared layer is one set of weights trained by
all its uses, a sub-model built from another model's tensors shares that model's weights.

The tweets model runs at reduced sizes, (14, 16) instead of (140, 256), its code otherwise
as written (examples/shared_lstm.py runs it at the guide's sizes). Its data: a few
"prolific" authors each favour 4 of the 16 characters; a positive pair is two tweets by one
of them, a negative pair one of their tweets and one from the public (uniform characters).
(The guide's head, a logistic regression on concat(code_a, code_b), scores each tweet
separately, so it cannot learn "equal authors" when single tweets look alike in both
classes; see examples/shared_lstm.py.)
"""
import re

import numpy as np
import pytest

import kcc
from kcc.utils import clear_session

T, C = 14, 16                 # tweet length and alphabet, reduced from (140, 256)


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    kcc.utils.set_random_seed(0)
    yield


# -- "All models are callable, just like layers" ------------------------------------------
def _first_example(n=256):
    """The guide's first model, trained briefly, and its data."""
    from kcc.layers import Input, Dense
    from kcc.models import Model

    rng = np.random.default_rng(0)
    data = rng.standard_normal((n, 784)).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[np.argmax(data[:, :10], axis=1)]

    inputs = Input(shape=(784,))
    x = Dense(64, activation='relu')(inputs)
    x = Dense(64, activation='relu')(x)
    predictions = Dense(10, activation='softmax')(x)
    model = Model(input=inputs, output=predictions)
    model.compile(optimizer='rmsprop',
                  loss='categorical_crossentropy',
                  metrics=['accuracy'])
    model.fit(data, labels, verbose=0)  # starts training
    return model, data, labels


def _mlp_forward(model, x):
    k1, b1, k2, b2, k3, b3 = [w.astype(np.float64) for w in model.get_weights()]
    h = np.maximum(np.maximum(x @ k1 + b1, 0) @ k2 + b2, 0)
    z = h @ k3 + b3
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_a_model_called_on_a_new_input_reuses_its_weights():
    from kcc.layers import Input
    from kcc.models import Model
    model, data, labels = _first_example()

    x = Input(shape=(784,))
    # this works, and returns the 10-way softmax we defined above.
    y = model(x)

    assert y.shape == (None, 10)
    assert y._keras_history[:2] == (model, 1)      # node 0 is the model's own graph
    reused = Model(x, y)
    assert reused.layers[1] is model
    assert all(a is b for a, b in zip(reused.weights, model.weights))
    np.testing.assert_allclose(reused.predict(data), model.predict(data), rtol=1e-6, atol=1e-7)
    # training the original moves the reused model (no copy, no sync, no recompile)
    before = reused.predict(data)
    model.fit(data, labels, nb_epoch=1, verbose=0)
    after = reused.predict(data)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, _mlp_forward(model, data), rtol=1e-4, atol=1e-6)


def test_time_distributed_model_is_the_model_at_every_timestep():
    from kcc.layers import Input
    from kcc.models import Model
    model, _, _ = _first_example()

    from kcc.layers import TimeDistributed

    # input tensor for sequences of 20 timesteps,
    # each containing a 784-dimensional vector
    input_sequences = Input(shape=(20, 784))

    # this applies our previous model to every timestep in the input sequences.
    # the output of the previous model was a 10-way softmax,
    # so the output of the layer below will be a sequence of 20 vectors of size 10.
    processed_sequences = TimeDistributed(model)(input_sequences)

    assert processed_sequences.shape == (None, 20, 10)
    sequences = np.random.default_rng(1).standard_normal((6, 20, 784)).astype(np.float32)
    got = Model(input_sequences, processed_sequences).predict(sequences)
    want = np.stack([model.predict(sequences[:, t]) for t in range(20)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- "Shared layers" ------------------------------------------------------------------------
def tweet_pairs(n, rng, authors=6, favourites=4, share=0.9):
    """(data_a, data_b, labels): one-hot tweets of shape (n, T, C); see the module doc.
    The authors are the same at every call (their favourite characters are fixed)."""
    favs = [np.random.default_rng(100 + k).choice(C, favourites, replace=False)
            for k in range(authors)]

    def tweets(author, k):
        p = np.full(C, 1.0 / C)
        if author is not None:
            p = np.full(C, (1 - share) / (C - favourites))
            p[favs[author]] = share / favourites
        chars = rng.choice(C, (k, T), p=p)
        return np.eye(C, dtype=np.float32)[chars]

    labels = rng.integers(0, 2, n).astype(np.float32)
    data_a = np.empty((n, T, C), np.float32)
    data_b = np.empty((n, T, C), np.float32)
    for i in range(n):
        author = int(rng.integers(authors))
        if labels[i]:
            data_a[i], data_b[i] = tweets(author, 2)
        else:
            pair = [tweets(author, 1)[0], tweets(None, 1)[0]]
            if rng.integers(2):
                pair.reverse()
            data_a[i], data_b[i] = pair
    return data_a, data_b, labels.reshape(-1, 1)


def _tweets_model():
    """The guide's code blocks, in order (only the imports say kcc, the sizes are reduced)."""
    from kcc.layers import Input, LSTM, Dense, merge
    from kcc.models import Model

    tweet_a = Input(shape=(T, C))
    tweet_b = Input(shape=(T, C))

    # this layer can take as input a matrix
    # and will return a vector of size 64
    shared_lstm = LSTM(64)

    # when we reuse the same layer instance
    # multiple times, the weights of the layer
    # are also being reused
    # (it is effectively *the same* layer)
    encoded_a = shared_lstm(tweet_a)
    encoded_b = shared_lstm(tweet_b)

    # we can then concatenate the two vectors:
    merged_vector = merge([encoded_a, encoded_b], mode='concat', concat_axis=-1)

    # and add a logistic regression on top
    predictions = Dense(1, activation='sigmoid')(merged_vector)

    # we define a trainable model linking the
    # tweet inputs to the predictions
    model = Model(input=[tweet_a, tweet_b], output=predictions)
    return model, shared_lstm


def test_shared_lstm_tweets_model_trains():
    rng = np.random.default_rng(0)
    data_a, data_b, labels = tweet_pairs(1000, rng)
    test_a, test_b, test_labels = tweet_pairs(300, rng)
    model, shared_lstm = _tweets_model()

    assert [l.name for l in model.layers] == ["input_1", "input_2", "lstm_1", "merge_1",
                                              "dense_1"]
    assert len(shared_lstm.inbound_nodes) == 2
    assert len(model.weights) == 5                      # one LSTM (3) + the Dense (2)
    assert model.count_params() == 4 * 64 * (C + 64 + 1) + 2 * 64 + 1

    model.compile(optimizer='rmsprop',
                  loss='binary_crossentropy',
                  metrics=['accuracy'])
    loss0, acc0 = model.evaluate([test_a, test_b], test_labels, verbose=0)
    history = model.fit([data_a, data_b], labels, nb_epoch=10, verbose=0)
    loss1, acc1 = model.evaluate([test_a, test_b], test_labels, verbose=0)
    assert len(history.history["loss"]) == 10
    assert loss1 < 0.8 * loss0 and acc1 > 0.75, (loss0, acc0, loss1, acc1)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_one_step_updates_the_shared_lstm_once(optimizer):
    """The shared LSTM's gradient is the sum over its two uses, and one train step applies
    one optimizer update with it (not one per use)."""
    from kcc.layers import Input, LSTM, Dense, merge
    from kcc.models import Model
    from kcc import optimizers

    rng = np.random.default_rng(2)
    data_a, data_b, labels = tweet_pairs(16, rng)
    model, shared_lstm = _tweets_model()
    opt = (optimizers.SGD(learning_rate=0.5) if optimizer == "sgd"
           else optimizers.RMSprop(learning_rate=0.01))
    model.compile(optimizer=opt, loss='binary_crossentropy')

    # the same computation with two separate LSTMs holding the same weights
    a, b = Input(shape=(T, C)), Input(shape=(T, C))
    lstm_a, lstm_b = LSTM(64, name="twin_a"), LSTM(64, name="twin_b")
    merged = merge([lstm_a(a), lstm_b(b)], mode='concat', concat_axis=-1)
    twin = Model([a, b], Dense(1, activation='sigmoid', name="twin_out")(merged))
    twin.set_weights(shared_lstm.get_weights() * 2 + model.layers[-1].get_weights())
    twin.compile(optimizer='sgd', loss='binary_crossentropy')

    x, y = [data_a, data_b], labels
    grads = model._native.gradients(model._x(x), model._y(y))[1]
    twin_grads = twin._native.gradients(twin._x(x), twin._y(y))[1]
    for w in shared_lstm.weights:
        g = grads[w.path]
        split = twin_grads[f"twin_a/{w.name}"] + twin_grads[f"twin_b/{w.name}"]
        np.testing.assert_allclose(g, split, rtol=1e-4, atol=1e-6 * np.abs(g).max(),
                                   err_msg=f"{w.path}: shared gradient != sum of both uses")
        assert np.abs(twin_grads[f"twin_a/{w.name}"]).max() > 0
        assert np.abs(twin_grads[f"twin_b/{w.name}"]).max() > 0

    before = {w.path: w.numpy().astype(np.float64) for w in model.weights}
    model.train_on_batch(x, y)
    for w in model.weights:
        slots = opt.init_slots(before[w.path])
        want = opt.reference_update(before[w.path], grads[w.path].astype(np.float64), slots, 1)
        step = want - before[w.path]
        np.testing.assert_allclose(w.numpy() - before[w.path], step, rtol=1e-3,
                                   atol=1e-6 + 1e-4 * np.abs(step).max(),
                                   err_msg=f"{w.path}: not one {optimizer} update")


# -- "The concept of layer node" -------------------------------------------------------------
def test_one_node_layer_output():
    from kcc.layers import Input, LSTM

    a = Input(shape=(140, 256))

    lstm = LSTM(32)
    encoded_a = lstm(a)

    assert lstm.output == encoded_a


def test_several_nodes_layer_output_is_ill_defined():
    from kcc.layers import Input, LSTM

    a = Input(shape=(140, 256))
    b = Input(shape=(140, 256))

    lstm = LSTM(32)
    encoded_a = lstm(a)
    encoded_b = lstm(b)

    with pytest.raises(AssertionError) as err:
        lstm.output
    assert " ".join(str(err.value).split()) == (
        'Layer lstm_1 has multiple inbound nodes, hence the notion of "layer output" is '
        'ill-defined. Use `get_output_at(node_index)` instead.')

    assert lstm.get_output_at(0) == encoded_a
    assert lstm.get_output_at(1) == encoded_b

    # all nodes have the same shapes, so the shapes are well defined
    assert lstm.input_shape == (None, 140, 256)
    assert lstm.output_shape == (None, 32)
    assert lstm.get_input_shape_at(1) == (None, 140, 256)


def test_layer_node_block_with_convolution2d_as_written():
    from kcc.layers import Input, Convolution2D

    a = Input(shape=(3, 32, 32))
    b = Input(shape=(3, 64, 64))

    conv = Convolution2D(16, 3, 3, border_mode='same')
    conved_a = conv(a)

    # only one input so far, the following will work:
    assert conv.input_shape == (None, 3, 32, 32)

    conved_b = conv(b)
    # now the `.input_shape` property wouldn't work, but this does:
    assert conv.get_input_shape_at(0) == (None, 3, 32, 32)
    assert conv.get_input_shape_at(1) == (None, 3, 64, 64)
    assert conved_a.shape == (None, 16, 32, 32) and conved_b.shape == (None, 16, 64, 64)


def test_calling_a_built_layer_on_another_shape_names_layer_call_and_shapes():
    from kcc.layers import Input, LSTM
    from kcc.models import Model

    tweet = Input(shape=(140, 256))
    shared_lstm = LSTM(32)
    shared_lstm(tweet)
    wrong = Input(shape=(140, 128))
    with pytest.raises(ValueError) as err:
        shared_lstm(wrong)
    message = str(err.value)
    assert "lstm_1" in message
    assert "(None, 140, 256)" in message and "(None, 140, 128)" in message
    # which call: the second one, that would have been node 1
    assert re.search(r"\bnode 1\b|\bcall (#)?2\b|second call", message), message
    assert len(shared_lstm.inbound_nodes) == 1       # the failed call added no node

    encoder = Model(tweet, shared_lstm.get_output_at(0))
    encoder(Input(shape=(140, 256)))
    with pytest.raises(ValueError) as err:
        encoder(wrong)
    message = str(err.value)
    assert encoder.name in message
    assert "(None, 140, 256)" in message and "(None, 140, 128)" in message
    assert re.search(r"\bnode 2\b|\bcall (#)?2\b|second call", message), message


# -- a sub-model from another model's tensors (the guide's question encoder) ------------------
def _lstm_forward(x, kernel, recurrent, bias):
    """Keras's LSTM (gates i, f, c, o; sigmoid, tanh), the last state, in float64."""
    h = np.zeros((x.shape[0], recurrent.shape[0]))
    c = np.zeros_like(h)
    u = h.shape[1]
    sig = lambda z: 1 / (1 + np.exp(-z))                       # noqa: E731
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        c = sig(z[:, u:2 * u]) * c + sig(z[:, :u]) * np.tanh(z[:, 2 * u:3 * u])
        h = sig(z[:, 3 * u:]) * np.tanh(c)
    return h


def test_question_encoder_shares_weights_with_the_vqa_model():
    """The guide's VQA and video-QA blocks at small sizes: a Sequential vision model of Dense
    layers stands in for the convolutions (a later issue)."""
    from kcc.layers import Flatten, Input, LSTM, Embedding, Dense, merge
    from kcc.models import Model, Sequential

    vision_model = Sequential()
    vision_model.add(Flatten(input_shape=(3, 6, 6)))
    vision_model.add(Dense(32, activation='relu'))
    vision_model.add(Dense(16, activation='relu'))

    image_input = Input(shape=(3, 6, 6))
    encoded_image = vision_model(image_input)

    question_input = Input(shape=(10,), dtype='int32')
    embedded_question = Embedding(input_dim=100, output_dim=8, input_length=10)(question_input)
    encoded_question = LSTM(16)(embedded_question)

    merged = merge([encoded_question, encoded_image], mode='concat')
    output = Dense(20, activation='softmax')(merged)
    vqa_model = Model(input=[image_input, question_input], output=output)

    # this is a model-level representation of the question encoder, reusing the same weights as before:
    question_encoder = Model(input=question_input, output=encoded_question)

    # let's use it to encode the question:
    video_question_input = Input(shape=(10,), dtype='int32')
    encoded_video_question = question_encoder(video_question_input)

    embedding, lstm = vqa_model.get_layer("embedding_1"), vqa_model.get_layer("lstm_1")
    assert question_encoder.layers[1:] == [embedding, lstm]
    assert set(map(id, question_encoder.weights)) <= set(map(id, vqa_model.weights))

    rng = np.random.default_rng(0)
    images = rng.standard_normal((64, 3, 6, 6)).astype(np.float32)
    questions = rng.integers(0, 100, (64, 10)).astype(np.int32)
    answers = np.eye(20, dtype=np.float32)[rng.integers(0, 20, 64)]

    def encoded():                       # the question encoder, recomputed in numpy
        (table,) = embedding.get_weights()
        return _lstm_forward(table[questions].astype(np.float64), *lstm.get_weights())

    before = question_encoder.predict(questions)
    np.testing.assert_allclose(before, encoded(), rtol=1e-4, atol=1e-5)
    vqa_model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
    vqa_model.fit([images, questions], answers, nb_epoch=2, batch_size=16, verbose=0)
    after = question_encoder.predict(questions)          # trained through the VQA model
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, encoded(), rtol=1e-4, atol=1e-5)
    nested = Model(video_question_input, encoded_video_question)
    np.testing.assert_allclose(nested.predict(questions), after, rtol=1e-5, atol=1e-6)

    # and the other way: training the encoder changes what the VQA model answers
    vqa_before = vqa_model.predict([images, questions])
    question_encoder.compile(optimizer='sgd', loss='mse')
    question_encoder.fit(questions, rng.standard_normal((64, 16)).astype(np.float32),
                         nb_epoch=2, verbose=0)
    vqa_after = vqa_model.predict([images, questions])
    assert np.abs(vqa_after - vqa_before).max() > 1e-4
    k1, b1, k2, b2 = vision_model.get_weights()
    image_code = np.maximum(np.maximum(images.reshape(64, -1) @ k1 + b1, 0) @ k2 + b2, 0)
    kd, bd = vqa_model.layers[-1].get_weights()
    z = np.concatenate([encoded(), image_code], axis=1) @ kd + bd
    want = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(vqa_after, want / want.sum(axis=1, keepdims=True), rtol=1e-4,
                               atol=1e-6)
