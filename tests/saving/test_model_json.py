"""model.to_json() / kcc.models.model_from_json(): every model of the guide, every layer
class, Sequential and nested models come back with the same architecture; with the
weights copied over they predict exactly the same numbers."""
import json

import numpy as np
import pytest

import kcc
from kcc import layers as L
from kcc.models import Model, Sequential, model_from_config, model_from_json
from kcc.saving import ConfigError
from kcc.saving.serialization import layer_classes
from kcc.utils import clear_session

from guide_models import GUIDE_MODELS, every_layer_model, vqa_and_video_qa


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    kcc.utils.set_random_seed(0)
    yield


def summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines


def assert_same_model(original, rebuilt, x, same_summary=True):
    assert type(rebuilt) is type(original)
    assert rebuilt is not original
    if same_summary:
        assert summary(rebuilt) == summary(original)
    assert rebuilt.count_params() == original.count_params()
    assert [l.name for l in rebuilt.layers] == [l.name for l in original.layers]
    assert rebuilt.input_names == original.input_names
    assert rebuilt.output_names == original.output_names
    # fresh weights, not the original's buffers ...
    for a, b in zip(rebuilt.weights, original.weights):
        assert a.value is not b.value and a.shape == b.shape
    # ... and once they hold the same numbers, the same predictions, bit for bit
    rebuilt.set_weights(original.get_weights())
    want, got = original.predict(x), rebuilt.predict(x)
    for w, g in zip(want if isinstance(want, list) else [want],
                    got if isinstance(got, list) else [got]):
        assert w.shape == g.shape
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", sorted(GUIDE_MODELS))
def test_guide_model_json_round_trip(name):
    model, x = GUIDE_MODELS[name]()
    text = model.to_json()
    data = json.loads(text)
    assert data["class_name"] == "Model"
    assert set(data["config"]) >= {"name", "layers", "input_layers", "output_layers"}
    rebuilt = model_from_json(text)
    assert rebuilt.to_json() == text               # a fixed point: nothing lost or added
    assert_same_model(model, rebuilt, x)


def test_json_follows_keras_functional_shape():
    model, _ = GUIDE_MODELS["shared_lstm"]()
    config = json.loads(model.to_json())["config"]
    by_name = {entry["name"]: entry for entry in config["layers"]}
    lstm = by_name["lstm_1"]
    assert lstm["class_name"] == "LSTM" and lstm["config"]["units"] == 8
    # one layer entry, two calls: the shared LSTM
    assert lstm["inbound_nodes"] == [[["input_1", 0, 0, {}]], [["input_2", 0, 0, {}]]]
    assert by_name["merge_1"]["class_name"] == "Concatenate"
    assert by_name["merge_1"]["inbound_nodes"] == [[["lstm_1", 0, 0, {}], ["lstm_1", 1, 0, {}]]]
    assert config["input_layers"] == [["input_1", 0, 0], ["input_2", 0, 0]]
    assert config["output_layers"] == ["dense_1", 0, 0]       # one tensor, not a list


def test_nested_model_stays_shared_after_loading():
    model, x = GUIDE_MODELS["shared_vision"]()
    rebuilt = model_from_json(model.to_json())
    inner = [l for l in rebuilt.layers if isinstance(l, Model)]
    assert len(inner) == 1 and len(inner[0].inbound_nodes) == 3    # own graph + two calls
    # one set of weights: the classification model owns 2 convs + 1 dense
    assert len(rebuilt.weights) == 6


def test_time_distributed_model_and_sequential_inside():
    _, (video, x) = vqa_and_video_qa()
    config = json.loads(video.to_json())["config"]
    td = next(e for e in config["layers"] if e["class_name"] == "TimeDistributed")
    assert td["config"]["layer"]["class_name"] == "Sequential"
    encoder = next(e for e in config["layers"] if e["class_name"] == "Model")
    assert encoder["inbound_nodes"] == [[["input_4", 0, 0, {}]]]


def test_a_layer_shared_with_another_model_is_counted_per_model():
    """node indices count only the calls inside the saved model"""
    inputs = L.Input(shape=(4,))
    dense = L.Dense(3)
    Model(inputs, dense(inputs))                   # call 0, in another model
    other = L.Input(shape=(4,))
    model = Model(other, L.Activation("relu")(dense(other)))     # call 1
    config = model.get_config()
    entry = next(e for e in config["layers"] if e["name"] == dense.name)
    assert entry["inbound_nodes"] == [[[other._keras_history[0].name, 0, 0, {}]]]
    x = np.random.default_rng(1).random((3, 4), dtype=np.float32)
    # (the summary's "Connected to" shows dense_1[1][0] here, [0][0] once rebuilt alone)
    assert_same_model(model, model_from_config(config), x, same_summary=False)


def test_sequential_round_trip():
    model = Sequential()
    model.add(L.Embedding(20, 6, input_length=5))
    model.add(L.LSTM(4, return_sequences=True))
    model.add(L.Flatten())
    model.add(L.Dropout(0.25))
    model.add(L.Dense(3, activation='softmax'))
    data = json.loads(model.to_json())
    assert data["class_name"] == "Sequential"
    assert [e["class_name"] for e in data["config"]["layers"]] == [
        "InputLayer", "Embedding", "LSTM", "Flatten", "Dropout", "Dense"]
    rebuilt = model_from_json(model.to_json())
    assert isinstance(rebuilt, Sequential) and len(rebuilt.layers) == 5
    x = np.random.default_rng(2).integers(0, 20, (4, 5)).astype(np.int32)
    assert_same_model(model, rebuilt, x)


def test_every_layer_class_round_trips():
    model, x = every_layer_model()
    used = {type(l).__name__ for l in model.layers} | {"Model", "Sequential"}
    used |= {type(l.layer).__name__ for l in model.layers if isinstance(l, L.TimeDistributed)}
    missing = sorted(set(layer_classes()) - used)
    assert not missing, f"add these layer classes to every_layer_model(): {missing}"
    rebuilt = model_from_json(model.to_json())
    assert rebuilt.to_json() == model.to_json()
    assert_same_model(model, rebuilt, x)
    # the configs a layer writes are the configs it is rebuilt with
    for a, b in zip(model.layers, rebuilt.layers):
        assert a.get_config() == b.get_config(), a.name


def test_loaded_names_do_not_repeat_in_new_layers():
    model, _ = GUIDE_MODELS["mlp"]()
    text = model.to_json()
    clear_session()                                # as in a new process
    rebuilt = model_from_json(text)
    assert [l.name for l in rebuilt.layers][1:] == ["dense_1", "dense_2", "dense_3"]
    assert L.Dense(2).name == "dense_4"


def test_unknown_layer_class_is_refused():
    model, _ = GUIDE_MODELS["mlp"]()
    data = json.loads(model.to_json())
    data["config"]["layers"][1]["class_name"] = "Lambda"
    with pytest.raises(ConfigError, match=r"unknown layer class 'Lambda' \(layer 'dense_1'\)"):
        model_from_json(json.dumps(data))
    data["config"]["layers"][1]["class_name"] = "os.system"
    with pytest.raises(ConfigError, match=r"unknown layer class 'os.system'"):
        model_from_json(json.dumps(data))


def test_malformed_json_is_a_clear_error():
    with pytest.raises(ConfigError, match="not valid JSON"):
        model_from_json("{not json")
    with pytest.raises(ConfigError, match=r"lacks \['output_layers'\]"):
        model_from_json(json.dumps({"class_name": "Model", "config": {
            "name": "m", "layers": [], "input_layers": []}}))
    with pytest.raises(ConfigError, match="not a model"):
        model_from_json(json.dumps({"class_name": "Dense", "config": {"units": 2}}))
    model, _ = GUIDE_MODELS["mlp"]()
    data = json.loads(model.to_json())
    data["config"]["layers"][2]["inbound_nodes"] = [[["nowhere", 0, 0, {}]]]
    name = data["config"]["layers"][2]["name"]
    with pytest.raises(ConfigError, match=rf"layer '{name}' reads \['nowhere', 0, 0\], but the config has no layer 'nowhere'"):
        model_from_json(json.dumps(data))


def test_a_custom_layer_class_cannot_be_saved():
    class MyDense(L.Dense):
        pass

    inputs = L.Input(shape=(3,))
    model = Model(inputs, MyDense(2)(inputs))
    with pytest.raises(ConfigError, match=r"class .*MyDense, which kcc cannot save"):
        model.to_json()
    seq = L.Input(shape=(2, 3))
    model = Model(seq, L.TimeDistributed(MyDense(2))(seq))
    with pytest.raises(ConfigError, match=r"class .*MyDense, which kcc cannot save"):
        model.to_json()


def test_a_custom_initializer_function_cannot_be_saved():
    inputs = L.Input(shape=(3,))
    model = Model(inputs, L.Dense(2, kernel_initializer=lambda shape, dtype: np.ones(shape))(inputs))
    with pytest.raises(ConfigError, match="custom initializer function"):
        model.to_json()


def test_a_layer_in_two_places_of_the_tree_comes_back_as_one_layer():
    """Each place's entry carries one shared_object_id, and loading reuses the first layer
    built: one set of weights, as saved (without it, two layers with two sets)."""
    inputs = L.Input(shape=(4,))
    model = Model(inputs, L.Dense(3)(inputs))
    x, seq = L.Input(shape=(4,)), L.Input(shape=(2, 4))
    td = L.TimeDistributed(model)
    both = Model([x, seq], [model(x), td(seq)])
    entries = {e["name"]: e for e in json.loads(both.to_json())["config"]["layers"]}
    assert entries[model.name]["shared_object_id"] == entries[td.name]["config"]["layer"]["shared_object_id"]
    again = model_from_json(both.to_json())
    inner = next(layer for layer in again.layers if isinstance(layer, Model))
    wrapper = next(layer for layer in again.layers if isinstance(layer, L.TimeDistributed))
    assert wrapper.layer is inner and len(again.weights) == 2
    again.set_weights(both.get_weights())
    xs = [np.ones((1, 4), np.float32), np.ones((1, 2, 4), np.float32)]
    for a, b in zip(again.predict(xs, verbose=0), both.predict(xs, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-6)

    dense = L.Dense(2)
    i = L.Input(shape=(2,))
    inner = Model(i, dense(i))
    j = L.Input(shape=(2,))
    outer = Model(j, dense(inner(j)))
    again = model_from_json(outer.to_json())
    nested = next(layer for layer in again.layers if isinstance(layer, Model))
    beside = next(layer for layer in again.layers if isinstance(layer, L.Dense))
    assert beside is next(layer for layer in nested.layers if isinstance(layer, L.Dense))
    assert len(again.weights) == 2 and beside.name == dense.name
    # a weightless layer in two places carries no id: two layers that compute the same
    act = L.Activation("relu")
    i = L.Input(shape=(2,))
    inner = Model(i, act(i))
    j = L.Input(shape=(2,))
    assert "shared_object_id" not in Model(j, act(inner(j))).to_json()


def test_a_shared_object_id_on_another_kind_of_layer_is_a_clear_error():
    dense = L.Dense(2)
    i = L.Input(shape=(2,))
    inner = Model(i, dense(i))
    j = L.Input(shape=(2,))
    data = json.loads(Model(j, dense(inner(j))).to_json())
    outer_dense = next(e for e in data["config"]["layers"] if e["class_name"] == "Dense")
    outer_dense["class_name"] = "Embedding"
    with pytest.raises(ConfigError, match=r"shared_object_id 1, which belongs to layer"):
        model_from_json(json.dumps(data))


def test_model_from_json_takes_keras_custom_objects_argument():
    from kcc.layers import Dense, Input
    from kcc.models import Model, model_from_json
    x = Input(shape=(3,))
    js = Model(x, Dense(2)(x)).to_json()
    assert model_from_json(js, custom_objects={}).count_params() == 8
    with pytest.raises(ValueError, match=r"custom_objects=\['MyLayer'\] cannot be used"):
        model_from_json(js, custom_objects={"MyLayer": object})
