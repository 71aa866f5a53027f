"""Model over the guide's graphs (Dense stands in for layers other engineers build)."""
import numpy as np
import pytest

from kcc.layers import Activation, Dense, Dropout, Flatten, Input
from kcc.models import Model


def guide_mlp():
    inputs = Input(shape=(784,))
    x = Dense(64, activation="relu")(inputs)
    x = Dense(64, activation="relu")(x)
    predictions = Dense(10, activation="softmax")(x)
    return inputs, predictions


@pytest.mark.parametrize("build", [
    lambda i, o: Model(input=i, output=o),
    lambda i, o: Model(inputs=i, outputs=o),
    lambda i, o: Model(i, o),
    lambda i, o: Model([i], [o]),
])
def test_guide_first_example_all_spellings(build):
    inputs, predictions = guide_mlp()
    model = build(inputs, predictions)
    assert [l.name for l in model.layers] == ["input_1", "dense_1", "dense_2", "dense_3"]
    assert model.count_params() == 55050
    assert model.name == "model_1"
    assert model.input_names == ["input_1"] and model.output_names == ["dense_3"]


def test_single_and_list_inputs_outputs():
    inputs, predictions = guide_mlp()
    single = Model(inputs, predictions)
    assert single.input is inputs and single.output is predictions
    assert single.inputs == [inputs] and single.outputs == [predictions]
    assert single.input_shape == (None, 784) and single.output_shape == (None, 10)
    listed = Model([inputs], [predictions])
    assert listed.input == [inputs] and listed.output == [predictions]


def test_model_argument_errors():
    inputs, predictions = guide_mlp()
    with pytest.raises(TypeError, match="functional API"):
        Model()
    with pytest.raises(TypeError, match="not both"):
        Model(inputs=inputs, input=inputs, outputs=predictions)
    with pytest.raises(TypeError, match="type ndarray"):
        Model(inputs, np.zeros(3))
    hidden = predictions.node.input_tensors[0]
    with pytest.raises(ValueError, match="must be tensors returned by Input"):
        Model(hidden, predictions)


def test_multi_input_multi_output_guide_model():
    main_input = Input(shape=(100,), name="main_input")
    lstm_out = Dense(32)(main_input)                      # stands in for Embedding + LSTM
    auxiliary_loss = Dense(1, activation="sigmoid", name="aux_output")(lstm_out)
    auxiliary_input = Input(shape=(5,), name="aux_input")
    x = Dense(64, activation="relu")(auxiliary_input)     # stands in for merge + Dense
    main_loss = Dense(1, activation="sigmoid", name="main_output")(x)
    model = Model(input=[main_input, auxiliary_input], output=[main_loss, auxiliary_loss])
    assert model.input_names == ["main_input", "aux_input"]
    assert model.output_names == ["main_output", "aux_output"]
    names = [l.name for l in model.layers]
    assert names[:2] == ["main_input", "aux_input"]      # InputLayers first
    assert sorted(names[2:]) == ["aux_output", "dense_1", "dense_2", "main_output"]
    order = [n.layer.name for n in model._nodes_in_order()]
    assert order.index("dense_1") < order.index("aux_output")
    assert order.index("dense_2") < order.index("main_output")
    assert model.output_shape == [(None, 1), (None, 1)]


def test_layers_in_keras_depth_order():
    x = Input(shape=(8,))
    a = Dense(4, name="a")(x)
    b = Dense(4, name="b")(a)
    c = Dense(4, name="c")(x)
    out = Dense(1, name="out")(b)
    out2 = Dense(1, name="out2")(c)
    model = Model(x, [out, out2])
    # deepest first (a), then ties by first visit from the outputs (b before c)
    assert [l.name for l in model.layers] == ["input_1", "a", "b", "c", "out", "out2"]


def test_shared_layer_appears_once_and_nodes_once():
    a, b = Input(shape=(6,)), Input(shape=(6,))
    shared = Dense(3)
    head = Dense(1)
    ea, eb = shared(a), shared(b)
    out = head(Dropout(0.5)(Activation("relu")(ea)))
    model = Model([a, b], [out, eb])
    assert [l.name for l in model.layers].count("dense_1") == 1
    nodes = model._nodes_in_order()
    assert len(nodes) == len(set(map(id, nodes))) == 5
    assert sum(n.layer is shared for n in nodes) == 2
    assert len(model.weights) == 4 and model.count_params() == 6 * 3 + 3 + 3 + 1
    seen = set()
    for node in nodes:                                       # a valid execution order
        assert all(id(t) in seen or t in (a, b) for t in node.input_tensors)
        seen.update(id(t) for t in node.output_tensors)


def test_graph_disconnected():
    x1 = Input(shape=(4,))
    x2 = Input(shape=(4,))
    h = Dense(4)(x1)
    shared = Dense(4)
    out = shared(h)
    out2 = shared(x2)
    Model(x1, out)                                           # fine
    with pytest.raises(ValueError) as e:
        Model(x1, [out, out2])
    msg = str(e.value)
    assert msg.startswith("Graph disconnected: cannot obtain value for tensor "
                          "<KerasTensor shape=(None, 4), dtype=float32, name=input_2> "
                          'at layer "input_2". The following previous layers were accessed '
                          "without issue: [")
    assert "'input_1'" in msg and "'dense_1'" in msg


def test_duplicate_layer_names_in_one_model():
    x = Input(shape=(2,))
    y = Dense(2, name="same")(Dense(2, name="same")(x))
    with pytest.raises(ValueError, match='The name "same" is used 2 times in the model'):
        Model(x, y)


def test_get_layer():
    inputs, predictions = guide_mlp()
    model = Model(inputs, predictions)
    assert model.get_layer("dense_2") is model.layers[2]
    assert model.get_layer(index=3).name == "dense_3"
    with pytest.raises(ValueError) as e:
        model.get_layer("dense_9")
    assert str(e.value) == ("No such layer: dense_9. Existing layers are: "
                            "['input_1', 'dense_1', 'dense_2', 'dense_3'].")
    with pytest.raises(ValueError, match="at index 7 but model model_1 only has 4 layers"):
        model.get_layer(index=7)
    with pytest.raises(ValueError, match="either a layer name or a layer index"):
        model.get_layer()


def test_model_get_set_weights():
    inputs, predictions = guide_mlp()
    model = Model(inputs, predictions)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(784, 64), (64,), (64, 64), (64,), (64, 10), (10,)]
    ptrs = [w.data_ptr for w in model.weights]
    new = [np.random.default_rng(0).normal(size=w.shape).astype(np.float32) for w in weights]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        np.testing.assert_array_equal(got, want)
    assert [w.data_ptr for w in model.weights] == ptrs
    with pytest.raises(ValueError, match="Model model_1 expects 6 weight arrays"):
        model.set_weights(new[:4])
    with pytest.raises(ValueError, match=r"Layer 'dense_2' weight 'kernel' expects shape"):
        model.set_weights(new[:2] + [np.zeros((3, 3))] + new[3:])


def test_two_models_share_layers_and_buffers():
    inputs, predictions = guide_mlp()
    m1, m2 = Model(inputs, predictions), Model(inputs, predictions)
    assert m1.name == "model_1" and m2.name == "model_2"
    m1.layers[1].kernel.assign(np.ones((784, 64)))
    assert m2.get_weights()[0][0, 0] == 1.0


def test_model_is_callable_like_a_layer():
    inputs, predictions = guide_mlp()
    model = Model(inputs, predictions)
    x = Input(shape=(784,))
    y = model(x)
    assert y.shape == (None, 10) and y._keras_history == (model, 1, 0)
    assert model.output is predictions                  # still its own output
    z = Dense(2)(y)
    outer = Model(x, z)
    assert [l.name for l in outer.layers] == ["input_2", "model_1", "dense_4"]
    assert outer.count_params() == 55050 + 22
    assert outer.weights[0] is model.weights[0]          # weights reused, not copied
    with pytest.raises(ValueError, match="expected shape \\(None, 784\\)"):
        model(Input(shape=(783,)))
    with pytest.raises(ValueError, match="expects 1 input"):
        model([x, x])


def test_frozen_nested_model():
    inputs, predictions = guide_mlp()
    model = Model(inputs, predictions)
    x = Input(shape=(784,))
    outer = Model(x, Dense(2)(model(x)))
    model.trainable = False
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 6
    assert all(not w.trainable for w in model.weights)
    model.trainable = True
    assert len(outer.trainable_weights) == 8


def test_flatten_in_a_model():
    x = Input(shape=(1, 27, 27))
    out = Flatten()(x)
    vision_model = Model(x, out)
    assert vision_model.output_shape == (None, 729)


def test_building_a_model_does_not_unfreeze_its_layers():
    x = Input(shape=(2,))
    frozen = Dense(2)
    frozen.trainable = False
    model = Model(x, frozen(x))
    assert not frozen.trainable and model.trainable_weights == []
    Model(x, frozen(x), trainable=False)
    assert not frozen.trainable


def test_dict_inputs_or_outputs_say_they_are_not_supported():
    from kcc.layers import Dense, Input
    from kcc.models import Model
    a = Input(shape=(3,), name="a")
    with pytest.raises(TypeError, match=r"Model inputs as a dict .* not supported .*pass a list.*\['a'\]"):
        Model({"a": a}, Dense(2)(a))
    with pytest.raises(TypeError, match=r"Model outputs as a dict"):
        Model(a, {"o": Dense(2)(a)})


def test_set_weights_of_a_non_list():
    from kcc.layers import Dense, Input
    from kcc.models import Model
    a = Input(shape=(3,))
    m = Model(a, Dense(2)(a))
    with pytest.raises(TypeError, match=r"set_weights expects a list of 2 arrays .*received NoneType"):
        m.set_weights(None)
