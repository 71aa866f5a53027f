"""The guide's first code block, as written (Keras 1 spelling), with `keras` -> `kcc`."""
import numpy as np


def test_first_example_runs_as_written():
    from kcc.layers import Input, Dense
    from kcc.models import Model
    from kcc.utils import set_random_seed

    set_random_seed(0)                    # not in the guide: makes the training check repeatable
    rng = np.random.default_rng(0)
    data = rng.standard_normal((200, 784)).astype(np.float32)
    # a learnable signal: the class is the argmax of the first 10 features
    labels = np.eye(10, dtype=np.float32)[np.argmax(data[:, :10], axis=1)]

    # this returns a tensor
    inputs = Input(shape=(784,))

    # a layer instance is callable on a tensor, and returns a tensor
    x = Dense(64, activation='relu')(inputs)
    x = Dense(64, activation='relu')(x)
    predictions = Dense(10, activation='softmax')(x)

    # this creates a model that includes
    # the Input layer and three Dense layers
    model = Model(input=inputs, output=predictions)
    model.compile(optimizer='rmsprop',
                  loss='categorical_crossentropy',
                  metrics=['accuracy'])
    history = model.fit(data, labels, verbose=0, nb_epoch=20)  # starts training

    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history["loss"]) == 20
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    probs = model.predict(data[:8])
    assert probs.shape == (8, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_import_kcc_as_keras_reads_like_keras():
    import kcc as keras

    inputs = keras.layers.Input(shape=(4,))
    outputs = keras.layers.Dense(2, activation="softmax")(inputs)
    model = keras.models.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy")
    x = np.ones((3, 4), np.float32)
    assert model.predict(x).shape == (3, 2)
