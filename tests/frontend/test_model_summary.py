from kcc.layers import Dense, Input
from kcc.models import Model

GUIDE_MLP_SUMMARY = """\
Model: "model_1"
__________________________________________________________________________________________________
Layer (type)                    Output Shape         Param #     Connected to
==================================================================================================
input_1 (InputLayer)            (None, 784)          0
__________________________________________________________________________________________________
dense_1 (Dense)                 (None, 64)           50240       input_1[0][0]
__________________________________________________________________________________________________
dense_2 (Dense)                 (None, 64)           4160        dense_1[0][0]
__________________________________________________________________________________________________
dense_3 (Dense)                 (None, 10)           650         dense_2[0][0]
==================================================================================================
Total params: 55,050
Trainable params: 55,050
Non-trainable params: 0
__________________________________________________________________________________________________"""


def summary_text(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return "\n".join(lines)


def guide_mlp():
    inputs = Input(shape=(784,))
    x = Dense(64, activation="relu")(inputs)
    x = Dense(64, activation="relu")(x)
    return Model(input=inputs, output=Dense(10, activation="softmax")(x))


def test_guide_mlp_summary():
    assert summary_text(guide_mlp()) == GUIDE_MLP_SUMMARY


def test_summary_prints_by_default(capsys):
    guide_mlp().summary()
    assert "Total params: 55,050" in capsys.readouterr().out


def test_summary_shared_layer_and_frozen_layer():
    a, b = Input(shape=(6,)), Input(shape=(6,))
    shared = Dense(3)
    head = Dense(1)
    head.trainable = False
    model = Model([a, b], [head(shared(a)), shared(b)])
    text = summary_text(model, line_length=110)
    rows = [line for line in text.splitlines() if line.startswith("dense_1 ")]
    assert len(rows) == 1 and "input_1[0][0]" in rows[0] and "(None, 3)" in rows[0]
    assert any(line.strip() == "input_2[0][0]" for line in text.splitlines())
    assert "Non-trainable params: 4" in text and "Trainable params: 21" in text


def test_summary_nested_model_connection():
    inner = guide_mlp()
    x = Input(shape=(784,))
    outer = Model(x, inner(x))
    text = summary_text(outer)
    row = [line for line in text.splitlines() if line.startswith("model_1 ")][0]
    assert "(Model)" in row and "55050" in row and "input_2[0][0]" in row
