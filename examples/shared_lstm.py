"""The guide's shared-layer model ("are these two tweets from the same person?"), written as
in the guide at its sizes, (140, 256) tweets and one LSTM(64) shared by both, trained
natively on a synthetic data set.

The data: a tweet is 140 characters from an alphabet of 256, one-hot encoded. Ten
"prolific" authors each have a characteristic character distribution: 12 favourite
characters (their own, drawn at random) make up 60% of what they write, the other 40% is
spread over the whole alphabet. A positive pair is two tweets by the same prolific author;
a negative pair is a tweet by one of them and a tweet by a member of the public, whose
characters are uniform (in random order: the public tweet is as often tweet_a as tweet_b).

Why not "two prolific authors, different" as negatives: the guide's head is a logistic
regression on concat(code_a, code_b), so its score is f(tweet_a) + g(tweet_b), one term per
tweet. It cannot test two codes for equality, so on pairs whose single tweets look the same
in both classes it stays at chance (measured: 49% test accuracy after 10 epochs). What it
learns here is "both tweets carry a known author's style", which needs both branches of the
shared LSTM. A same-author model proper would put layers that compare the codes (e.g. Dense
layers on the merge) before the logistic regression.

Run: python examples/shared_lstm.py   (about 10 s on 2 cores)
"""
import time

import numpy as np

import kcc
from kcc.layers import Input, LSTM, Dense, merge
from kcc.models import Model

STEPS, CHARS = 140, 256
AUTHORS, FAVOURITES, SHARE = 10, 12, 0.6


def author_styles(rng):
    """One character distribution per prolific author."""
    styles = np.full((AUTHORS, CHARS), (1 - SHARE) / CHARS)
    for style in styles:
        style[rng.choice(CHARS, FAVOURITES, replace=False)] += SHARE / FAVOURITES
    return styles


def make_pairs(n, styles, rng):
    """(data_a, data_b, labels): n pairs of one-hot tweets, half of them same-author."""
    public = np.full(CHARS, 1.0 / CHARS)
    labels = rng.integers(0, 2, n)
    chars = np.empty((2, n, STEPS), np.int64)
    for i in range(n):
        author = styles[rng.integers(AUTHORS)]
        second = author if labels[i] else public
        first, second = ((author, second) if labels[i] or rng.integers(2)
                         else (second, author))
        chars[0, i] = rng.choice(CHARS, STEPS, p=first)
        chars[1, i] = rng.choice(CHARS, STEPS, p=second)
    one_hot = np.eye(CHARS, dtype=np.float32)
    return one_hot[chars[0]], one_hot[chars[1]], labels.astype(np.float32).reshape(-1, 1)


def main():
    kcc.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    styles = author_styles(rng)
    data_a, data_b, labels = make_pairs(1536, styles, rng)
    test_a, test_b, test_labels = make_pairs(512, styles, rng)

    # ---- the guide's code, as written ---------------------------------------------------------
    tweet_a = Input(shape=(140, 256))
    tweet_b = Input(shape=(140, 256))

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

    model.compile(optimizer='rmsprop',
                  loss='binary_crossentropy',
                  metrics=['accuracy'])
    # -------------------------------------------------------------------------------------------
    model.summary()
    print(f"shared_lstm has {len(shared_lstm.inbound_nodes)} nodes and one set of weights: "
          f"{[w.shape for w in shared_lstm.get_weights()]}")

    loss, accuracy = model.evaluate([test_a, test_b], test_labels, verbose=0)
    print(f"before training: test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    start = time.perf_counter()
    model.fit([data_a, data_b], labels, nb_epoch=10)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate([test_a, test_b], test_labels, verbose=0)
    print(f"after training: test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    print(f"trained on {10 * len(labels)} pairs in {seconds:.1f} s "
          f"({10 * len(labels) / seconds:.0f} pairs/s)")


if __name__ == "__main__":
    main()
