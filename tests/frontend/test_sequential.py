"""Sequential: a linear stack built with add/pop that is a functional Model once it has an
input, so it compiles, trains, predicts, saves, and is callable inside functional models."""
import numpy as np
import pytest

import kcc
from kcc.layers import (GRU, LSTM, Activation, Dense, Dropout, Embedding, Flatten, Input,
                        InputLayer, Reshape, SimpleRNN, TimeDistributed)
from kcc.models import Model, Sequential
from kcc.utils import clear_session


def _classifier():
    model = Sequential()
    model.add(Dense(32, input_dim=16, activation='relu'))
    model.add(Dropout(0.25))
    model.add(Dense(4, activation='softmax'))
    return model


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 16)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[np.argmax(x[:, :4], axis=1)]   # learnable: argmax of 4
    return x, y


def _forward(model, x):
    """numpy forward of _classifier() (Dropout is the identity at inference)."""
    k1, b1, k2, b2 = model.get_weights()
    h = np.maximum(x @ k1 + b1, 0)
    z = h @ k2 + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- structure --------------------------------------------------------------------------
def test_add_builds_a_functional_model_with_an_implicit_input():
    model = _classifier()
    assert isinstance(model, Model)
    assert model.name == "sequential_1"
    assert [l.name for l in model.layers] == ["dense_1", "dropout_1", "dense_2"]
    assert all(not isinstance(l, InputLayer) for l in model.layers)   # as Keras
    assert len(model.inputs) == 1 and len(model.outputs) == 1
    assert model.input is model.inputs[0] and model.output is model.outputs[0]
    assert model.input_shape == (None, 16) and model.output_shape == (None, 4)
    assert model.input_names == ["dense_1_input"]      # Keras's name for the implicit input
    assert model.output is model.layers[-1].output
    assert model.get_layer(index=0) is model.layers[0]
    assert model.get_layer("dropout_1") is model.layers[1]
    assert model.count_params() == 16 * 32 + 32 + 32 * 4 + 4


def test_constructor_list_name_and_explicit_inputs():
    a = Sequential([Dense(8, input_shape=(3,)), Activation('tanh')], name="encoder")
    assert a.name == "encoder" and a.output_shape == (None, 8)
    b = Sequential([Input(shape=(5,)), Dense(2)])              # Keras 3: an Input first
    assert b.input_shape == (None, 5) and [l.name for l in b.layers] == ["dense_2"]
    c = Sequential()
    c.add(InputLayer(input_shape=(6,)))                        # Keras 1/2: an InputLayer
    assert c.layers == [] and c.inputs == []                   # no layer yet: not built
    c.add(Dense(1))
    assert c.input_shape == (None, 6) and c.output_shape == (None, 1)
    d = Sequential([Embedding(100, 8, input_length=5), LSTM(4), Dense(1)])
    assert d.inputs[0].dtype == "int32" and d.output_shape == (None, 1)
    ids = np.random.default_rng(0).integers(0, 100, (3, 5)).astype(np.int32)
    assert d.predict(ids).shape == (3, 1)


@pytest.mark.parametrize("make, shape", [
    (lambda: Dense(4, input_dim=3), (None, 3)),
    (lambda: Dense(4, input_shape=(3,)), (None, 3)),
    (lambda: Dense(4, batch_input_shape=(None, 3)), (None, 3)),
    (lambda: Dropout(0.5, input_shape=(3,)), (None, 3)),
    (lambda: Activation('relu', input_shape=(3,)), (None, 3)),
    (lambda: Flatten(input_shape=(2, 3)), (None, 2, 3)),
    (lambda: Reshape((6,), input_shape=(2, 3)), (None, 2, 3)),
    (lambda: Embedding(10, 4, input_length=7), (None, 7)),
    (lambda: Embedding(10, 4, input_shape=(7,)), (None, 7)),
    (lambda: LSTM(4, input_dim=3, input_length=5), (None, 5, 3)),
    (lambda: LSTM(4, input_shape=(5, 3)), (None, 5, 3)),
    (lambda: GRU(4, input_shape=(5, 3)), (None, 5, 3)),
    (lambda: SimpleRNN(4, batch_input_shape=(None, 5, 3)), (None, 5, 3)),
    (lambda: TimeDistributed(Dense(4), input_shape=(5, 3)), (None, 5, 3)),
])
def test_first_layer_declares_the_input_keras_1_and_2_style(make, shape):
    model = Sequential()
    model.add(make())
    assert model.input_shape == shape


def test_first_layer_without_an_input_shape_is_keras_s_error():
    model = Sequential()
    with pytest.raises(ValueError, match=r"The first layer in a Sequential model must get an "
                       r"`input_shape` or `batch_input_shape` argument.*dense_1"):
        model.add(Dense(3))
    assert model.layers == [] and model.inputs == []
    with pytest.raises(ValueError, match=r"lstm_1.*`input_dim` but no `input_length`"):
        model.add(LSTM(3, input_dim=4))
    model.add(Dense(3, input_dim=2))             # the failed adds left nothing behind
    assert [l.name for l in model.layers] == ["dense_2"]


def test_adding_a_non_layer_or_a_second_input_is_an_error():
    model = Sequential()
    with pytest.raises(TypeError, match=r"The added layer must be an instance of class Layer\. "
                       r"Found: 'dense'"):
        model.add("dense")
    with pytest.raises(TypeError, match=r"instance of class Layer.*Dense"):
        model.add(Dense)                          # the class, not an instance
    model.add(Dense(3, input_dim=2))
    with pytest.raises(ValueError, match=r"already has an input"):
        model.add(Input(shape=(3,)))
    with pytest.raises(ValueError, match=r"unique names.*'dense_1'"):
        model.add(model.layers[0])
    with pytest.raises(ValueError, match=r"dense_2.*expected shape \(None, 5\), received shape "
                       r"\(None, 3\)"):
        model.add(_built_dense(5))            # built for 5 features, the stack gives 3
    assert [l.name for l in model.layers] == ["dense_1"]


def _built_dense(features):
    layer = Dense(1)
    layer(Input(shape=(features,)))
    return layer


def test_pop_removes_the_last_layer():
    model = _classifier()
    popped = model.pop()
    assert popped.name == "dense_2"
    assert [l.name for l in model.layers] == ["dense_1", "dropout_1"]
    assert model.output_shape == (None, 32) and model.outputs[0] is model.layers[-1].output
    assert model.layers[-1].outbound_nodes == []
    model.add(Dense(2))
    assert model.output_shape == (None, 2)
    model.pop(), model.pop(), model.pop()
    assert model.layers == [] and model.inputs == [] and model.outputs == []
    with pytest.raises(TypeError, match=r"There are no layers in the model"):
        model.pop()
    with pytest.raises(ValueError, match=r"first layer in a Sequential model"):
        model.add(Dense(2))                       # the implicit input went with dense_1
    kept = Sequential([Input(shape=(4,)), Dense(2)])
    kept.pop()
    kept.add(Dense(3))                            # an explicit Input stays
    assert kept.input_shape == (None, 4) and kept.output_shape == (None, 3)


def test_empty_model_errors_say_it_is_empty():
    model = Sequential()
    for call in (lambda: model.compile('sgd', 'mse'), lambda: model.predict(np.zeros((1, 2))),
                 lambda: model.summary(), lambda: model(Input(shape=(2,)))):
        with pytest.raises(ValueError, match=r"Sequential model sequential_1 is empty"):
            call()


# -- training ---------------------------------------------------------------------------
def test_compile_fit_evaluate_predict():
    kcc.utils.set_random_seed(0)
    model = _classifier()
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])
    x, y = _data(1024)
    x_test, y_test = _data(256, seed=1)
    loss0, acc0 = model.evaluate(x_test, y_test, verbose=0)
    history = model.fit(x, y, nb_epoch=20, batch_size=32, verbose=0)
    assert len(history.history["loss"]) == 20
    loss1, acc1 = model.evaluate(x_test, y_test, verbose=0)
    assert loss1 < 0.5 * loss0 and acc1 > 0.85
    np.testing.assert_allclose(model.predict(x_test), _forward(model, x_test), rtol=1e-4,
                               atol=1e-6)


def test_changing_the_stack_asks_for_a_new_compile():
    model = _classifier()
    model.compile(optimizer='sgd', loss='categorical_crossentropy')
    x, y = _data(8)
    model.pop()
    model.add(Dense(4, activation='softmax', name='new_head'))
    with pytest.raises(RuntimeError, match=r"must compile model 'sequential_1'"):
        model.fit(x, y, verbose=0)
    model.compile(optimizer='sgd', loss='categorical_crossentropy')
    model.fit(x, y, verbose=0)
    assert model.predict(x).shape == (8, 4)


def test_same_numbers_as_the_functional_model():
    seq = _classifier()
    inputs = Input(shape=(16,))
    x = Dense(32, activation='relu')(inputs)
    x = Dropout(0.25)(x)
    functional = Model(inputs, Dense(4, activation='softmax')(x))
    functional.set_weights(seq.get_weights())
    data, _ = _data(20)
    np.testing.assert_array_equal(seq.predict(data), functional.predict(data))


# -- weights ----------------------------------------------------------------------------
def test_get_set_weights_and_weights_files(tmp_path):
    model = _classifier()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(16, 32), (32,), (32, 4), (4,)]
    model.set_weights([w + 1 for w in weights])
    for w0, w1 in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(w0 + 1, w1)
    x, _ = _data(10)
    want = model.predict(x)
    model.save_weights(tmp_path / "seq.weights.h5")
    clear_session()
    again = _classifier()                     # same names, fresh weights
    assert not np.allclose(again.predict(x), want)
    again.load_weights(tmp_path / "seq.weights.h5")
    np.testing.assert_array_equal(again.predict(x), want)


# -- inside functional models -----------------------------------------------------------
def _vision_model():
    """The guide's VQA vision model with Dense layers standing in for the convolutions."""
    vision_model = Sequential()
    vision_model.add(Flatten(input_shape=(3, 4, 4)))
    vision_model.add(Dense(16, activation='relu'))
    vision_model.add(Dense(8, activation='relu'))
    return vision_model


def test_callable_on_tensors_weights_and_all():
    vision_model = _vision_model()
    # now let's get a tensor with the output of our vision model:
    image_input = Input(shape=(3, 4, 4))
    encoded_image = vision_model(image_input)
    assert encoded_image.shape == (None, 8)
    assert encoded_image._keras_history[0] is vision_model
    out = Dense(2, activation='softmax')(encoded_image)
    classifier = Model(image_input, out)
    assert [l.name for l in classifier.layers] == ["input_1", "sequential_1", "dense_3"]
    assert classifier.count_params() == vision_model.count_params() + 8 * 2 + 2
    rng = np.random.default_rng(0)
    images = rng.standard_normal((64, 3, 4, 4)).astype(np.float32)
    labels = np.eye(2, dtype=np.float32)[(images[:, 0, 0, 0] > 0).astype(int)]
    np.testing.assert_allclose(Model(image_input, encoded_image).predict(images),
                               vision_model.predict(images), rtol=1e-6)
    before = vision_model.predict(images)
    classifier.compile(optimizer='sgd', loss='categorical_crossentropy')
    classifier.fit(images, labels, nb_epoch=2, verbose=0)
    after = vision_model.predict(images)      # trained through the outer model
    assert not np.allclose(before, after)
    k1, b1, k2, b2 = vision_model.get_weights()
    flat = images.reshape(64, -1)
    want = np.maximum(np.maximum(flat @ k1 + b1, 0) @ k2 + b2, 0)
    np.testing.assert_allclose(after, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(RuntimeError, match=r"already been called"):
        vision_model.add(Dense(3))


def test_a_sequential_inside_a_sequential():
    inner = Sequential([Dense(5, input_dim=3, activation='tanh')], name="inner")
    outer = Sequential([inner, Dense(2)], name="outer")
    assert outer.input_shape == (None, 3) and outer.output_shape == (None, 2)
    assert [l.name for l in outer.layers] == ["inner", "dense_2"]
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    k1, b1 = inner.get_weights()
    k2, b2 = outer.layers[1].get_weights()
    np.testing.assert_allclose(outer.predict(x), np.tanh(x @ k1 + b1) @ k2 + b2, rtol=1e-5,
                               atol=1e-6)


def test_summary_is_keras_s_sequential_table():
    lines = []
    _classifier().summary(print_fn=lines.append)
    assert lines[0] == 'Model: "sequential_1"'
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert all(len(line) <= 65 for line in lines)
    rows = [line for line in lines if line.startswith(("dense", "dropout"))]
    assert [r.split()[0] for r in rows] == ["dense_1", "dropout_1", "dense_2"]
    assert rows[0].split()[-1] == "544" and rows[2].split()[-1] == "132"
    assert "Total params: 676" in lines


def test_time_distributed_sequential_as_in_the_video_qa_model():
    vision_model = _vision_model()
    video_input = Input(shape=(5, 3, 4, 4))
    # this is our video encoded via the previously trained vision_model (weights are reused)
    encoded_frame_sequence = TimeDistributed(vision_model)(video_input)
    encoded_video = LSTM(6)(encoded_frame_sequence)
    assert encoded_frame_sequence.shape == (None, 5, 8) and encoded_video.shape == (None, 6)
    frames = np.random.default_rng(0).standard_normal((2, 5, 3, 4, 4)).astype(np.float32)
    got = Model(video_input, encoded_frame_sequence).predict(frames)
    want = np.stack([vision_model.predict(frames[:, t]) for t in range(5)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_frozen_sequential_keeps_its_weights_inside_a_trained_model():
    vision_model = _vision_model()
    vision_model.trainable = False
    vision_model.add(Dense(4, name="late"))          # added after freezing: frozen too
    image_input = Input(shape=(3, 4, 4))
    model = Model(image_input, Dense(1)(vision_model(image_input)))
    assert len(model.trainable_weights) == 2
    frozen = vision_model.get_weights()
    model.compile(optimizer='sgd', loss='mse')
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((16, 3, 4, 4)).astype(np.float32),
              rng.standard_normal((16, 1)).astype(np.float32), verbose=0)
    for w0, w1 in zip(frozen, vision_model.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_keras_1_extras_and_build():
    model = _classifier()
    x, _ = _data(6)
    proba = model.predict_proba(x)
    np.testing.assert_array_equal(model.predict_classes(x), proba.argmax(axis=-1))
    binary = Sequential([Dense(1, input_dim=16, activation='sigmoid')])
    np.testing.assert_array_equal(binary.predict_classes(x), binary.predict(x) > 0.5)
    with pytest.raises(RuntimeError, match=r"sequential_1 is already built for input shape "
                       r"\(None, 16\)"):
        model.build((None, 16))
    with pytest.raises(ValueError, match=r"is empty, so it cannot be built"):
        Sequential().build((None, 3))
