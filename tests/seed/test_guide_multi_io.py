"""The guide's multi-input and multi-output example, as written (Keras 1 spelling), with
`keras` -> `kcc`, at the guide's sizes (vocabulary 10000, 512-d embedding, 100 words).

Synthetic data with a learnable signal: a positive headline carries 20 "positive" word
ids (1..20) at random positions, a negative one 20 "negative" ids (21..40), among random
words; the auxiliary input's first feature leans towards the label as well.
"""
import numpy as np
import pytest

from kcc.utils import clear_session, set_random_seed


N = 512
EPS = 1e-7                   # Keras's probability clip in binary_crossentropy


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    set_random_seed(0)       # not in the guide: makes the training checks repeatable
    yield


def _data(seed=0, n=N):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(np.float32)
    headline_data = rng.integers(1, 10000, (n, 100)).astype(np.int32)
    for i in range(n):
        where = rng.choice(100, 20, replace=False)
        headline_data[i, where] = rng.integers(1, 21, 20) + (0 if labels[i] else 20)
    additional_data = rng.normal(size=(n, 5)).astype(np.float32)
    additional_data[:, 0] += 1.5 * (2 * labels - 1)
    return headline_data, additional_data, labels


def _guide_model():
    """The guide's code blocks, in order (only the imports say kcc)."""
    from kcc.layers import Input, Embedding, LSTM, Dense, merge
    from kcc.models import Model

    # headline input: meant to receive sequences of 100 integers, between 1 and 10000.
    # note that we can name any layer by passing it a "name" argument.
    main_input = Input(shape=(100,), dtype='int32', name='main_input')

    # this embedding layer will encode the input sequence
    # into a sequence of dense 512-dimensional vectors.
    x = Embedding(output_dim=512, input_dim=10000, input_length=100)(main_input)

    # a LSTM will transform the vector sequence into a single vector,
    # containing information about the entire sequence
    lstm_out = LSTM(32)(x)

    auxiliary_loss = Dense(1, activation='sigmoid', name='aux_output')(lstm_out)

    auxiliary_input = Input(shape=(5,), name='aux_input')
    x = merge([lstm_out, auxiliary_input], mode='concat')

    # we stack a deep fully-connected network on top
    x = Dense(64, activation='relu')(x)
    x = Dense(64, activation='relu')(x)
    x = Dense(64, activation='relu')(x)

    # and finally we add the main logistic regression layer
    main_loss = Dense(1, activation='sigmoid', name='main_output')(x)

    model = Model(input=[main_input, auxiliary_input], output=[main_loss, auxiliary_loss])
    return model


def _bce(y, p):
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    y = np.asarray(y, np.float64).reshape(p.shape)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def _acc(y, p):
    return float(np.mean((np.asarray(p).reshape(-1) > 0.5) == (np.asarray(y).reshape(-1) > 0.5)))


def test_list_forms_train():
    headline_data, additional_data, labels = _data()
    model = _guide_model()
    assert model.input_names == ["main_input", "aux_input"]
    assert model.output_names == ["main_output", "aux_output"]
    assert model.get_layer("merge_1").output_shape == (None, 37)

    model.compile(optimizer='rmsprop', loss='binary_crossentropy',
                  loss_weights=[1., 0.2])
    history = model.fit([headline_data, additional_data], [labels, labels],
                        nb_epoch=5, batch_size=32, verbose=0)

    h = history.history
    assert set(h) == {"loss", "main_output_loss", "aux_output_loss"}
    assert all(len(v) == 5 for v in h.values())
    np.testing.assert_allclose(h["loss"], np.add(h["main_output_loss"],
                                                 0.2 * np.asarray(h["aux_output_loss"])),
                               rtol=1e-4)
    assert h["main_output_loss"][-1] < 0.5 * h["main_output_loss"][0]
    assert h["aux_output_loss"][-1] < 0.8 * h["aux_output_loss"][0]


def test_dict_forms_train_and_evaluate_in_keras_order():
    headline_data, additional_data, labels = _data(1)
    model = _guide_model()
    model.compile(optimizer='rmsprop',
                  loss={'main_output': 'binary_crossentropy', 'aux_output': 'binary_crossentropy'},
                  loss_weights={'main_output': 1., 'aux_output': 0.2},
                  metrics=['acc'])

    # and trained it via:
    history = model.fit({'main_input': headline_data, 'aux_input': additional_data},
                        {'main_output': labels, 'aux_output': labels},
                        nb_epoch=3, batch_size=32, verbose=0)

    names = ["loss", "main_output_loss", "aux_output_loss", "main_output_acc", "aux_output_acc"]
    assert model.metrics_names == names
    assert set(history.history) == set(names)
    assert history.history["main_output_acc"][-1] > 0.9

    # evaluate: Keras's order, and the total is the loss_weights-weighted sum of the
    # per-output losses, recomputed in numpy from predict
    x_test, a_test, y_test = _data(2, n=200)
    values = model.evaluate({'main_input': x_test, 'aux_input': a_test},
                            {'main_output': y_test, 'aux_output': y_test}, verbose=0)
    main_p, aux_p = model.predict([x_test, a_test])
    assert main_p.shape == (200, 1) and aux_p.shape == (200, 1)
    main_l, aux_l = _bce(y_test, main_p), _bce(y_test, aux_p)
    want = [main_l + 0.2 * aux_l, main_l, aux_l, _acc(y_test, main_p), _acc(y_test, aux_p)]
    np.testing.assert_allclose(values, want, rtol=1e-4, atol=1e-6)
    # the same numbers from the list form
    np.testing.assert_allclose(model.evaluate([x_test, a_test], [y_test, y_test], verbose=0),
                               values, rtol=1e-6)


def test_data_errors_name_inputs_and_outputs():
    headline_data, additional_data, labels = _data(3, n=40)
    model = _guide_model()
    with pytest.raises(ValueError, match=r"Unknown output name\(s\) \['aux'\] in `loss`.*"
                       r"\['main_output', 'aux_output'\]"):
        model.compile(optimizer='rmsprop',
                      loss={'main_output': 'binary_crossentropy', 'aux': 'binary_crossentropy'})
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', loss_weights=[1., 0.2])
    with pytest.raises(ValueError, match=r"Unknown input name\(s\) \['aux'\] in the dict passed "
                       r"as `x`\. Valid names: \['main_input', 'aux_input'\]"):
        model.fit({'main_input': headline_data, 'aux': additional_data}, [labels, labels],
                  verbose=0)
    with pytest.raises(ValueError, match=r"Unknown output name\(s\) \['main'\].*Valid names: "
                       r"\['main_output', 'aux_output'\]"):
        model.fit([headline_data, additional_data], {'main': labels, 'aux_output': labels},
                  verbose=0)
    with pytest.raises(ValueError, match=r"same number of samples; received main_input: 40, "
                       r"aux_input: 39"):
        model.fit([headline_data, additional_data[:39]], [labels, labels], verbose=0)
    with pytest.raises(ValueError, match=r"Layer embedding_1 has input_dim=10000, so the ids in "
                       r"input 'main_input' must lie in \[0, 10000\); received ids from 1 to "
                       r"10000"):
        bad = headline_data.copy()
        bad[0, 0] = 10000
        model.predict([bad, additional_data])
