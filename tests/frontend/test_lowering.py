"""Layer.lower(g, inputs) against a fake builder that records what layers ask for."""
from dataclasses import dataclass


from kcc.layers import Activation, Dense, Dropout, Flatten, Input, Reshape
from kcc.models import Model


@dataclass
class FakeValue:
    shape: tuple
    dtype: str = "float32"


class FakeBuilder:
    def __init__(self):
        self.calls = []

    def op(self, family, inputs, shape, *, weights=(), attrs=None, dtype="float32"):
        self.calls.append(("op", family, list(inputs), tuple(shape), list(weights), attrs))
        return FakeValue(tuple(shape), dtype)

    def view(self, x, shape):
        self.calls.append(("view", x, tuple(shape)))
        return FakeValue(tuple(shape), x.dtype)

    def lower_node(self, layer, call_index, inputs, arguments=None, masks=None):   # a nested model's layers
        return layer.lower(self, inputs)

    def bind(self, tensors, values):        # which value each tensor is (for masks): unused
        pass

    def input_mask(self, i=0):              # these graphs carry no Keras masks
        return None


def called(layer, shape):
    layer(Input(shape=shape))
    return layer


def test_dense_lowering():
    g, x = FakeBuilder(), FakeValue((784,))
    dense = called(Dense(64, activation="relu"), (784,))
    (out,) = dense.lower(g, [x])
    assert out.shape == (64,)
    assert g.calls == [("op", "dense", [x], (64,), [dense.kernel, dense.bias],
                        {"activation": "relu", "units": 64})]


def test_dense_without_bias_keeps_the_bias_position():
    g = FakeBuilder()
    dense = called(Dense(3, use_bias=False), (5,))
    dense.lower(g, [FakeValue((5,))])
    assert g.calls[0][4] == [dense.kernel, None]
    assert g.calls[0][5] == {"activation": "linear", "units": 3}


def test_dense_on_rank3_lowers_to_the_last_axis():
    g = FakeBuilder()
    (out,) = called(Dense(4), (7, 5)).lower(g, [FakeValue((7, 5))])
    assert out.shape == (7, 4)


def test_activation_and_dropout_lowering():
    g, x = FakeBuilder(), FakeValue((10,))
    Activation("softmax").lower(g, [x])
    Dropout(0.25).lower(g, [x])
    Dropout(0.5, seed=7).lower(g, [x])
    assert g.calls == [("op", "activation", [x], (10,), [], {"activation": "softmax"}),
                       ("op", "dropout", [x], (10,), [], {"rate": 0.25}),
                       ("op", "dropout", [x], (10,), [], {"rate": 0.5, "seed": 7})]
    assert Dropout(0.0).lower(g, [x]) == [x] and len(g.calls) == 3


def test_flatten_and_reshape_are_views():
    g, x = FakeBuilder(), FakeValue((3, 4, 5))
    (flat,) = Flatten().lower(g, [x])
    (shaped,) = Reshape((-1, 10)).lower(g, [x])
    assert flat.shape == (60,) and shaped.shape == (6, 10)
    assert g.calls == [("view", x, (60,)), ("view", x, (6, 10))]
    # Keras 3's channels_first Flatten reorders (C, H, W) to (H, W, C): a transpose op
    Flatten(data_format="channels_first").lower(g, [x])
    assert g.calls[-1] == ("op", "transpose", [x], (60,), [], {"rows": 3, "cols": 20})


def test_nested_model_lowering_inlines_its_layers():
    inputs = Input(shape=(8,))
    inner = Model(inputs, Dense(2, activation="softmax")(Dense(4)(inputs)))
    x = Input(shape=(8,))
    y = inner(x)
    (node,) = [n for n in Model(x, y)._nodes_in_order()]
    assert node.layer is inner
    g = FakeBuilder()
    (out,) = inner.lower(g, [FakeValue((8,))])
    assert out.shape == (2,)
    assert [c[1] for c in g.calls] == ["dense", "dense"]
    assert g.calls[1][4] == inner.layers[2].weights       # the inner layers' own Variables
