"""The guide's multi-input, multi-output model ("how many retweets will a headline get?"),
written as in the guide, trained natively on a synthetic data set, then evaluated.

The signal to learn: a headline is 100 word ids from a 10,000-word vocabulary. "Popular"
headlines (label 1) mention several of the words 1..50 anywhere in the text; the others
mention several of 51..100 instead. The auxiliary input (5 numbers, e.g. the time of day)
carries a weaker hint: its first feature leans towards the label. Only the LSTM can see
the words, so the auxiliary output (read from the LSTM alone) must learn them too.

Run: python examples/headline.py
"""
import time

import numpy as np

import kcc
from kcc.layers import Input, Embedding, LSTM, Dense, merge
from kcc.models import Model


def make_data(n, rng):
    labels = rng.integers(0, 2, n).astype(np.float32)
    headlines = rng.integers(101, 10000, (n, 100)).astype(np.int32)
    for i in range(n):
        where = rng.choice(100, 8, replace=False)
        headlines[i, where] = rng.integers(1, 51, 8) + (0 if labels[i] else 50)
    extra = rng.normal(size=(n, 5)).astype(np.float32)
    extra[:, 0] += 0.5 * (2 * labels - 1)
    return headlines, extra, labels.reshape(-1, 1)


def main():
    kcc.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    headline_data, additional_data, labels = make_data(4096, rng)
    test_headlines, test_additional, test_labels = make_data(1024, rng)

    # ---- the guide's code, as written -------------------------------------------------------
    main_input = Input(shape=(100,), dtype='int32', name='main_input')
    x = Embedding(output_dim=512, input_dim=10000, input_length=100)(main_input)
    lstm_out = LSTM(32)(x)
    auxiliary_loss = Dense(1, activation='sigmoid', name='aux_output')(lstm_out)

    auxiliary_input = Input(shape=(5,), name='aux_input')
    x = merge([lstm_out, auxiliary_input], mode='concat')
    x = Dense(64, activation='relu')(x)
    x = Dense(64, activation='relu')(x)
    x = Dense(64, activation='relu')(x)
    main_loss = Dense(1, activation='sigmoid', name='main_output')(x)

    model = Model(input=[main_input, auxiliary_input], output=[main_loss, auxiliary_loss])
    model.compile(optimizer='rmsprop', loss='binary_crossentropy',
                  loss_weights=[1., 0.2], metrics=['accuracy'])
    # -----------------------------------------------------------------------------------------
    model.summary()

    test_x = {'main_input': test_headlines, 'aux_input': test_additional}
    test_y = {'main_output': test_labels, 'aux_output': test_labels}

    def report(when):
        logs = dict(zip(model.metrics_names, model.evaluate(test_x, test_y, verbose=0)))
        print(f"{when}: main_output accuracy {logs['main_output_accuracy']:.3f}, "
              f"aux_output accuracy {logs['aux_output_accuracy']:.3f} (held-out headlines)")
        return logs

    report("before training")
    t = time.perf_counter()
    model.fit({'main_input': headline_data, 'aux_input': additional_data},
              {'main_output': labels, 'aux_output': labels},
              nb_epoch=5, batch_size=32, verbose=2)
    print(f"trained in {time.perf_counter() - t:.1f} s")
    after = report("after training")
    assert after['main_output_accuracy'] > 0.9, "the main output should learn the signal"


if __name__ == "__main__":
    main()
