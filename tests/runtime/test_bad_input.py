"""Bad input is a clear Python exception naming what was expected and what was given,
raised before native code reads anything (and never a crash)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kcc.layers import Dense, Input
from kcc.models import Model


@pytest.fixture(scope="module")
def model():
    x = Input(shape=(6,), name="pixels")
    h = Dense(8, activation="relu")(x)
    y = Dense(4, activation="softmax", name="digits")(h)
    m = Model(x, y)
    m.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    return m


X = np.zeros((10, 6), np.float32)
Y = np.eye(4, dtype=np.float32)[np.arange(10) % 4]


def test_wrong_feature_count(model):
    with pytest.raises(ValueError, match=r"Input 'pixels' expects arrays of shape \(None, 6\), "
                                         r"received an array of shape \(10, 5\)"):
        model.fit(np.zeros((10, 5)), Y, verbose=0)


def test_wrong_rank(model):
    with pytest.raises(ValueError, match=r"shape \(None, 6\).*\(10, 6, 1\)"):
        model.predict(np.zeros((10, 6, 1)))


def test_wrong_number_of_arrays(model):
    with pytest.raises(ValueError, match=r"expects 1 input array.*received a list of 2"):
        model.fit([X, X], Y, verbose=0)


def test_dict_with_unknown_key_lists_valid_names(model):
    with pytest.raises(ValueError, match=r"Unknown input name\(s\) \['image'\].*\['pixels'\]"):
        model.predict({"image": X})


def test_y_rows_differ_from_x_rows(model):
    with pytest.raises(ValueError, match=r"same number of samples.*10 input samples.*9 target"):
        model.fit(X, Y[:9], verbose=0)


def test_one_hot_of_wrong_width(model):
    with pytest.raises(ValueError, match=r"Output 'digits' expects targets of shape \(None, 4\) for "
                                         r"loss categorical_crossentropy.*\(10, 5\)"):
        model.fit(X, np.zeros((10, 5)), verbose=0)


def test_integer_labels_with_categorical_loss_get_a_hint(model):
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.fit(X, np.arange(10) % 4, verbose=0)


def test_non_numeric_arrays(model):
    with pytest.raises(TypeError, match=r"input 'pixels' must be numeric.*<U"):
        model.predict(np.full((10, 6), "a"))
    with pytest.raises(TypeError, match="must be numeric"):
        model.fit(X, np.full((10, 4), None, dtype=object), verbose=0)


@pytest.mark.parametrize("bs", [0, -3, 2.5, True])
def test_bad_batch_size(model, bs):
    with pytest.raises(ValueError, match=r"invalid value for `batch_size`.*positive integer"):
        model.fit(X, Y, batch_size=bs, verbose=0)


def test_unknown_optimizer_loss_activation_list_valid_names():
    x = Input(shape=(3,))
    y = Dense(2, activation="softmax")(x)
    m = Model(x, y)
    with pytest.raises(ValueError, match=r"adagrad.*rmsprop|rmsprop.*adagrad"):
        m.compile("rmsprob", "categorical_crossentropy")
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        m.compile("sgd", "categorical_crossentropi")
    with pytest.raises(ValueError, match=r"relu"):
        Dense(2, activation="rellu")


def test_calling_a_layer_on_a_non_tensor():
    with pytest.raises(TypeError, match=r"dense_\w+|Dense"):
        Dense(2)(np.zeros((2, 3)))


def test_unknown_fit_argument_and_missing_compile():
    x = Input(shape=(3,))
    m = Model(x, Dense(2)(x))
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(np.zeros((2, 3)), np.zeros((2, 2)), verbose=0)
    m.compile("sgd", "mse")
    with pytest.raises(TypeError, match="nb_epochs"):
        m.fit(np.zeros((2, 3)), np.zeros((2, 2)), nb_epochs=3, verbose=0)


def test_sparse_labels_out_of_range():
    x = Input(shape=(3,))
    m = Model(x, Dense(4, activation="softmax")(x))
    m.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"4 classes.*\[0, 4\).*from 0 to 7"):
        m.fit(np.zeros((3, 3)), np.array([0, 7, 1]), verbose=0)


@pytest.mark.parametrize("ids,shown", [
    (np.array([[1, 2**32 + 3]], np.int64), "from 1 to 4294967299"),        # wrapped to 3 before
    (np.array([[1, 2**63 + 5]], np.uint64), "from 1 to 9223372036854775813"),
    (np.array([[1.0, 1e10]]), "from 1 to 10000000000"),                  # said -2147483648
    (np.array([[-1, 2]], np.int64), "from -1 to 2"),
])
def test_embedding_ids_are_checked_before_the_int32_cast(ids, shown):
    from kcc.layers import Embedding, Flatten
    x = Input(shape=(2,), dtype="int32", name="ids")
    m = Model(x, Dense(1)(Flatten()(Embedding(20, 3, name="emb")(x))))
    with pytest.raises(ValueError, match=rf"Layer emb has input_dim=20.*'ids'.*\[0, 20\); received ids {shown}$"):
        m.predict(ids)


def test_non_finite_sparse_labels_are_refused():
    x = Input(shape=(3,))
    m = Model(x, Dense(4, activation="softmax", name="probs")(x))
    m.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="Output 'probs'.*integer class ids; received non-integer or non-finite"):
        m.fit(np.zeros((3, 3)), np.array([0.0, np.inf, 1.0]), verbose=0)


def test_failing_compiler_gives_message_and_log_path(tmp_path):
    """A compiler that fails: a kcc BuildError with its output and the log path, and no
    half-written cache entry (run in a subprocess: the toolchain is memoized)."""
    fake = tmp_path / "bad-cxx"
    fake.write_text("#!/bin/sh\n"
                    "if [ \"$1\" = --version ]; then echo 'fake-cxx 1.0'; exit 0; fi\n"
                    "echo 'fatal error: the disk is made of cheese' >&2\nexit 1\n")
    fake.chmod(0o755)
    cache = tmp_path / "cache"
    script = textwrap.dedent("""
        import numpy as np
        from kcc.layers import Dense, Input
        from kcc.models import Model
        from kcc.build import BuildError
        x = Input(shape=(3,)); m = Model(x, Dense(2)(x))
        try:
            m.compile("sgd", "mse")
        except BuildError as e:
            print("MESSAGE:", e)
            print("LOG:", e.log_path)
        else:
            print("NO ERROR")
    """)
    env = dict(os.environ, CXX=str(fake), KCC_CACHE_DIR=str(cache))
    # cwd: `python -c` puts it first on sys.path, and the checkout's kcc has no built runtime
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "the disk is made of cheese" in out.stdout
    assert "model 'model_" in out.stdout
    log = out.stdout.split("LOG:")[1].strip()
    assert os.path.isfile(log)
    entries = [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(("failed-", "tmp-"))]
    assert entries == []


def test_validation_data_errors_name_the_argument(model):
    with pytest.raises(ValueError, match=r"Input 'pixels' \(in `validation_data\[0\]`\) expects arrays of shape \(None, 6\)"):
        model.fit(X, Y, validation_data=(np.zeros((3, 5)), Y[:3]), verbose=0)
    with pytest.raises(ValueError, match=r"Output 'digits' \(in `validation_data\[1\]`\) expects targets"):
        model.fit(X, Y, validation_data=(X[:3], np.zeros((3, 7))), verbose=0)
    with pytest.raises(ValueError, match=r"^Input 'pixels' expects"):   # x itself: no note
        model.fit(np.zeros((3, 5)), Y[:3], verbose=0)


@pytest.mark.parametrize("split,msg", [(0.99, "leaves 0 for training and 10 for validation"),
                                       (1e-17, "leaves 10 for training and 0 for validation")])
def test_validation_split_that_leaves_nothing(model, split, msg):
    with pytest.raises(ValueError, match=rf"validation_split={split} of 10 samples {msg}"):
        model.fit(X, Y, validation_split=split, verbose=0)


@pytest.mark.parametrize("weights", [[float("nan")], {"digits": float("inf")}])
def test_non_finite_loss_weights(weights):
    x = Input(shape=(3,))
    m = Model(x, Dense(2, name="digits")(x))
    with pytest.raises(ValueError, match="`loss_weights` entries must be finite numbers"):
        m.compile("sgd", "mse", loss_weights=weights)


def test_fit_from_a_second_thread_says_so(model):
    import threading
    from kcc.callbacks import LambdaCallback
    seen = []

    def other_thread():
        try:
            model.fit(X, Y, verbose=0)
        except RuntimeError as e:
            seen.append(str(e))

    def on_batch(batch, logs):
        if not seen:
            t = threading.Thread(target=other_thread)
            t.start()
            t.join()

    model.fit(X, Y, batch_size=5, verbose=0, callbacks=[LambdaCallback(on_batch_end=on_batch)])
    assert seen and "while another thread is running its fit()" in seen[0]


def test_nested_lists_are_data_for_a_single_input(model):
    """x.tolist() is the samples, not a list of input arrays."""
    np.testing.assert_allclose(model.predict(X.tolist()), model.predict(X), rtol=1e-6)
    with pytest.raises(ValueError, match=r"expects 1 input array\(s\).*received a list of 2"):
        model.predict([X, X])


def test_integer_column_labels_with_categorical_loss_get_the_hint(model):
    with pytest.raises(ValueError, match="integer class ids\\? use loss='sparse_categorical_crossentropy'"):
        model.fit(X, (np.arange(10) % 4).reshape(-1, 1), verbose=0)


def test_more_argument_errors(model, monkeypatch):
    with pytest.raises(ValueError, match="invalid value for `batch_size`"):
        model.predict(X, batch_size=2**64)
    with pytest.raises(ValueError, match=r"`validation_data\[2\]` for output .* one weight per sample"):
        model.fit(X, Y, validation_data=(X, Y, np.ones(9)), verbose=0)
    from kcc.build import BuildError
    from kcc.build.safety import cache_root
    monkeypatch.setenv("KCC_CACHE_DIR", "~nosuchuser_kcc/x")
    with pytest.raises(BuildError, match=r"\$KCC_CACHE_DIR='~nosuchuser_kcc/x' cannot be expanded"):
        cache_root()
