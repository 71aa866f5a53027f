"""model.save(path) / kcc.models.load_model(path): one safetensors file holding the
architecture, the weights, the compile config and the optimizer state. A loaded model
predicts what the saved one did and trains on as if it had never been saved; bad files
raise errors that name the file and the problem."""
import json

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

import kcc
from kcc import layers as L
from kcc import optimizers
from kcc.models import Sequential, load_model
from kcc.saving import ConfigError
from kcc.utils import clear_session

from guide_models import GUIDE_MODELS, every_layer_model, vqa_and_video_qa


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    kcc.utils.set_random_seed(0)
    yield


def outputs(y):
    return y if isinstance(y, list) else [y]


def assert_same_predictions(a, b, x):
    for want, got in zip(outputs(a.predict(x)), outputs(b.predict(x))):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["mlp", "shared_vision", "video_qa"])
def test_uncompiled_model_saves_and_loads(tmp_path, name):
    model, x = GUIDE_MODELS[name]()
    path = tmp_path / "model.kcc"
    model.save(path)
    loaded = load_model(path)
    assert loaded._native is None                  # saved uncompiled, loaded uncompiled
    assert loaded.count_params() == model.count_params()
    for a, b in zip(loaded.weights, model.weights):
        assert a.value is not b.value
        np.testing.assert_array_equal(a.value, b.value)
    assert_same_predictions(model, loaded, x)


def test_file_is_safetensors_with_json_metadata(tmp_path):
    model, _ = GUIDE_MODELS["mlp"]()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "model.kcc"
    model.save(path)
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert meta["format"] == "kcc-model" and meta["version"] == "1"
    assert json.loads(meta["model_config"]) == json.loads(model.to_json())
    compile_config = json.loads(meta["compile_config"])
    assert compile_config["optimizer"]["class_name"] == "RMSprop"
    assert compile_config["loss"] == ["categorical_crossentropy"]
    assert keys == {"dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias",
                    "dense_3/kernel", "dense_3/bias", "optimizer_state"}
    # the weights inside are a weights file's: load_weights reads a model file too
    clear_session()
    other, _ = GUIDE_MODELS["mlp"]()
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def headline_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = [rng.integers(0, 50, (n, 12)).astype(np.int32), rng.random((n, 5), dtype=np.float32)]
    labels = (x[1].sum(axis=1, keepdims=True) > 2.5).astype(np.float32)
    return x, [labels, labels]


def test_compiled_headline_model_comes_back_compiled_as_saved(tmp_path):
    model, _ = GUIDE_MODELS["headline"]()
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.01, rho=0.8),
                  loss={'main_output': 'binary_crossentropy', 'aux_output': 'mse'},
                  loss_weights={'main_output': 1., 'aux_output': 0.2},
                  metrics={'main_output': ['acc'], 'aux_output': [kcc.metrics.MeanAbsoluteError(name="err")]})
    x, y = headline_data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "headline.kcc"
    model.save(path)
    loaded = load_model(path)
    assert loaded._native is not None
    assert loaded.metrics_names == model.metrics_names
    assert "main_output_acc" in loaded.metrics_names and "aux_output_err" in loaded.metrics_names
    cfg, want = loaded._compile_config, model._compile_config
    assert cfg.losses == ["binary_crossentropy", "mean_squared_error"]
    assert cfg.loss_weights == pytest.approx([1.0, 0.2])
    assert cfg.metrics == want.metrics
    assert isinstance(loaded.optimizer, optimizers.RMSprop)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 4
    assert_same_predictions(model, loaded, x)
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0),
                               rtol=1e-6)
    assert load_model(path, compile=False)._native is None


@pytest.mark.parametrize("optimizer", [
    "adam", "rmsprop", optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    optimizers.Adagrad(learning_rate=0.05), optimizers.RMSprop(momentum=0.5, centered=True),
    "adamw", optimizers.Adamax(learning_rate=0.01),
    # Nadam's u_product, one float for all weights, is saved with the slots
    optimizers.Nadam(learning_rate=0.01, weight_decay=0.1), "adadelta",
    optimizers.Lion(learning_rate=0.001)])
def test_training_continues_with_the_saved_optimizer_state(tmp_path, optimizer):
    model, _ = GUIDE_MODELS["headline"]()
    model.compile(optimizer=optimizer, loss='binary_crossentropy', loss_weights=[1., 0.2])
    x, y = headline_data()
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    path = tmp_path / "headline.kcc"
    model.save(path)
    loaded = load_model(path)
    state = model._native.session.optimizer_state()
    assert np.any(state != loaded._native.session.optimizer_state()[0])
    np.testing.assert_array_equal(loaded._native.session.optimizer_state(), state)
    # a copy with the same weights but a fresh optimizer, to show the state matters
    fresh = load_model(path, compile=False)
    fresh.compile(optimizer=optimizers.get(optimizers.serialize(model.optimizer)),
                  loss='binary_crossentropy', loss_weights=[1., 0.2])

    for m in (model, loaded, fresh):
        m.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(fresh.get_weights(), model.get_weights()))


def test_sequential_saves_compiled(tmp_path):
    model = Sequential()
    model.add(L.Dense(8, input_dim=6, activation="relu"))
    model.add(L.Dropout(0.2))
    model.add(L.Dense(3, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 6), dtype=np.float32), rng.integers(0, 3, (40, 1)).astype(np.int32)
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp_path / "seq.kcc")
    loaded = load_model(tmp_path / "seq.kcc")
    assert isinstance(loaded, Sequential)
    assert [type(l).__name__ for l in loaded.layers] == ["Dense", "Dropout", "Dense"]
    assert_same_predictions(model, loaded, x)
    for m in (model, loaded):                      # the same dropout masks for both
        kcc.utils.set_random_seed(7)
        m.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_model_compiles_for_the_device_asked(tmp_path):
    """A file is not tied to a device: load_model(device=) overrides the default, which a
    GPU-trained model saved and loaded on a CPU machine relies on; a bad name is clear."""
    model = Sequential([L.Dense(3, input_dim=4, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    model.save(tmp_path / "m.kcc")
    before = kcc.backend.device()
    try:
        kcc.backend.set_device("cuda")            # the default: would need a GPU
        loaded = load_model(tmp_path / "m.kcc", device="cpu")
    finally:
        kcc.backend.set_device(before)
    assert loaded._native.device == "cpu"
    assert_same_predictions(model, loaded, np.ones((5, 4), np.float32))
    with pytest.raises(ValueError, match="Invalid device 'tpu'"):
        load_model(tmp_path / "m.kcc", device="tpu")


def test_vqa_model_with_sequential_inside_saves(tmp_path):
    (vqa, x), _ = vqa_and_video_qa()
    vqa.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    vqa.save(tmp_path / "vqa.kcc")
    loaded = load_model(tmp_path / "vqa.kcc")
    assert_same_predictions(vqa, loaded, x)


def test_save_refuses_to_overwrite_when_asked(tmp_path):
    model, _ = GUIDE_MODELS["mlp"]()
    path = tmp_path / "m.kcc"
    model.save(path)
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(path, overwrite=False)


# -- bad files -----------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    model, _ = GUIDE_MODELS["mlp"]()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    path = tmp_path / "model.kcc"
    model.save(path)
    return path


def rewrite(path, change, drop=()):
    """Rewrite a model file with its metadata changed by `change(metadata)`, without the
    tensors in `drop`."""
    with safe_open(str(path), framework="np") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys() if k not in drop}
    change(meta)
    safetensors.numpy.save_file(tensors, str(path), metadata=meta)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No kcc model file at '.*nothing.kcc'"):
        load_model(tmp_path / "nothing.kcc")


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"Cannot read a model from '{saved}'.*truncated"):
        load_model(saved)


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "model.kcc"
    path.write_text("print('hello')\n" * 10)
    with pytest.raises(ValueError, match=f"'{path}': it is not a safetensors file"):
        load_model(path)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"w": np.zeros(3, np.float32)}, str(path))
    with pytest.raises(ValueError, match=f"'{path}' is a safetensors file but not a kcc model"):
        load_model(path)


def test_weights_file_is_not_a_model_file(tmp_path):
    model, _ = GUIDE_MODELS["mlp"]()
    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    with pytest.raises(ValueError, match="is a kcc weights file .*model.load_weights"):
        load_model(path)


def test_wrong_version(saved):
    rewrite(saved, lambda meta: meta.update(version="99"))
    with pytest.raises(ValueError, match=f"'{saved}' is a kcc model file of version '99'.*"
                                         "reads version '1'"):
        load_model(saved)


def test_unknown_layer_class_names_file_and_layer(saved):
    def change(meta):
        config = json.loads(meta["model_config"])
        config["config"]["layers"][2]["class_name"] = "Lambda"
        config["config"]["layers"][2]["config"]["function"] = "__import__('os').system('x')"
        meta["model_config"] = json.dumps(config)
    rewrite(saved, change)
    with pytest.raises(ConfigError, match=f"'{saved}'.*unknown layer class 'Lambda' "
                                          r"\(layer 'dense_2'\)"):
        load_model(saved)


def test_broken_config_json(saved):
    rewrite(saved, lambda meta: meta.update(model_config="{"))
    with pytest.raises(ValueError, match=f"'{saved}': the 'model_config' entry is not valid JSON"):
        load_model(saved)


def test_weights_of_another_shape(saved):
    def change(meta):
        config = json.loads(meta["model_config"])
        config["config"]["layers"][1]["config"]["units"] = 32
        meta["model_config"] = json.dumps(config)
    rewrite(saved, change)
    with pytest.raises(ValueError, match=f"(?s)'{saved}'.*dense_1' weight 'kernel': the file has "
                                         r"shape \(784, 64\), the model expects \(784, 32\)"):
        load_model(saved)


def edit(meta, key, change):
    """Change the JSON entry `key` of a model file's metadata in place."""
    data = json.loads(meta[key])
    change(data)
    meta[key] = json.dumps(data)


def test_a_string_loss_is_one_loss_not_its_letters(saved):
    """A compile config written by hand (or by Keras) says loss "mse", not ["mse"]: it was
    read as ['m', 's', 'e'], a loss per letter."""
    rewrite(saved, lambda meta: edit(meta, "compile_config", lambda c: c.update(
        loss="categorical_crossentropy", loss_weights=0.5)))
    loaded = load_model(saved)
    assert loaded._compile_config.losses == ["categorical_crossentropy"]
    assert loaded._compile_config.loss_weights == [0.5]


@pytest.mark.parametrize("field, value, expected", [
    ("loss", 3, r"loss must be a loss name, a list of one per output or a dict by output name, "
                r"found 3 \(int\)"),
    ("loss", ["mse", None], r"loss must be .*found \['mse', None\] \(list\)"),
    ("loss_weights", "ab", r"loss_weights must be null, a number, .*found 'ab' \(str\)"),
    ("metrics", [[["acc", 5]]], r"metrics must be one list of \[name, metric\] pairs of strings"),
])
def test_a_compile_config_field_of_the_wrong_type_is_named(saved, field, value, expected):
    rewrite(saved, lambda meta: edit(meta, "compile_config", lambda c: c.update({field: value})))
    with pytest.raises(ValueError, match=f"'{saved}': cannot compile the model as saved: "
                                         f"the compile config's {expected}"):
        load_model(saved)


@pytest.mark.parametrize("key", ["model_config", "compile_config", "optimizer"])
def test_deeply_nested_json_is_not_a_model_file(saved, key):
    """100,000 nested arrays: a RecursionError from inside json, before; now a short error
    with no json traceback behind it."""
    rewrite(saved, lambda meta: meta.update({key: "[" * 100_000 + "]" * 100_000}))
    with pytest.raises(ConfigError, match=f"'{saved}': the '{key}' entry is not a valid kcc "
                                          "model entry: its JSON nests more than 200 levels") as e:
        load_model(saved)
    assert e.value.__cause__ is None and e.value.__suppress_context__
    # within the parser's reach but far deeper than any model: refused before it is walked
    rewrite(saved, lambda meta: meta.update({key: "[" * 500 + "]" * 500}))
    with pytest.raises(ConfigError, match="nests more than 200 levels"):
        load_model(saved)


def test_deeply_nested_json_string_is_refused_by_model_from_json():
    from kcc.models import model_from_json
    with pytest.raises(ConfigError, match="model_from_json: the string is not a valid kcc model "
                                          "entry: its JSON nests more than 200 levels"):
        model_from_json("[" * 100_000 + "]" * 100_000)


def _set_layer_config(index, **fields):
    return lambda meta: edit(meta, "model_config",
                             lambda c: c["config"]["layers"][index]["config"].update(fields))


def test_a_huge_units_is_refused_before_it_is_allocated(saved):
    """units=10**15 failed deep in numpy (MemoryError or a reshape), and 10**9 took all
    memory and got the process killed: the weight is checked against the file first."""
    rewrite(saved, _set_layer_config(2, units=10**15))
    with pytest.raises(ConfigError, match=(
            f"(?s)'{saved}'.*layer 'dense_2'.*Layer 'dense_2' weight 'kernel': the file has shape "
            r"\(64, 64\), the model expects \(64, 1000000000000000\) \(from its config: "
            r"units=1000000000000000\)\. The config does not match the weights stored with it")):
        load_model(saved)


def test_a_huge_input_shape_is_refused_before_a_weight_is_allocated(saved):
    rewrite(saved, _set_layer_config(0, batch_shape=[None, 10**15]))
    with pytest.raises(ConfigError, match=r"Layer 'dense_1' weight 'kernel': the file has shape "
                                          r"\(784, 64\), the model expects \(1000000000000000, "
                                          r"64\) \(from its input shape\)"):
        load_model(saved)


def test_loading_leaves_no_trace_of_the_weight_check(saved):
    loaded = load_model(saved)
    assert all("add_weight" not in vars(layer) for layer in loaded.layers)


@pytest.mark.parametrize("drop_layout", [True, False])
def test_a_file_without_optimizer_state_loads_with_a_fresh_optimizer_and_says_so(
        saved, drop_layout):
    """As Keras: a saved model lacking its optimizer variables loads, with a warning
    ("Skipping variable loading for optimizer"), and its optimizer starts fresh. It was
    silent."""
    before = load_model(saved)
    rewrite(saved, lambda meta: meta.pop("optimizer") if drop_layout else None,
            drop=("optimizer_state",))
    entries = r"'optimizer' and 'optimizer_state' entries are" if drop_layout \
        else r"'optimizer_state' entry is"
    with pytest.warns(UserWarning, match=f"'{saved}' holds no optimizer state \\(its {entries} "
                                         r"missing\): the model is compiled with a fresh Adam "
                                         r"optimizer, its slots and iteration count at 0, as Keras"):
        loaded = load_model(saved)
    assert loaded._native is not None and loaded.optimizer.iterations == 0
    assert not np.any(loaded._native.session.optimizer_state())
    for a, b in zip(loaded.get_weights(), before.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", [{"iterations": "x", "weights": []}, [1, 2],
                                    {"iterations": -1, "weights": []}])
def test_a_damaged_optimizer_entry_is_named(saved, layout):
    rewrite(saved, lambda meta: meta.update(optimizer=json.dumps(layout)))
    with pytest.raises(ValueError, match=f"'{saved}': the 'optimizer' entry must be "
                                         r"\{'iterations': a count >= 0"):
        load_model(saved)


def test_an_inbound_nodes_entry_that_is_not_a_list_is_named(saved):
    rewrite(saved, lambda meta: edit(meta, "model_config",
                                     lambda c: c["config"]["layers"][1].update(inbound_nodes=[3])))
    with pytest.raises(ConfigError, match=f"'{saved}': the model config, model 'model_1': "
                                          r"`layer 'dense_1' inbound_nodes entry` must be a list, "
                                          "found int"):
        load_model(saved)


def test_what_compile_itself_refuses_names_the_file(saved):
    rewrite(saved, lambda meta: edit(meta, "compile_config",
                                     lambda c: c.update(loss={"nope": "mse"})))
    with pytest.raises(ValueError, match=f"'{saved}': cannot compile the model as saved: "
                                         r"Unknown output name\(s\) \['nope'\] in `loss`"):
        load_model(saved)


@pytest.mark.parametrize("change, expected", [
    (lambda c: c["config"]["layers"][1].update(shared_object_id=[1]),
     r"layer 'dense_1' \(Dense\) has shared_object_id \[1\]; expected an integer"),
    (lambda c: c["config"].update(trainable="no"), r"`trainable` must be true or false, found 'no'"),
], ids=["shared_object_id", "trainable"])
def test_a_mistyped_model_config_field_is_named(saved, change, expected):
    rewrite(saved, lambda meta: edit(meta, "model_config", change))
    with pytest.raises(ConfigError, match=f"'{saved}'.*{expected}"):
        load_model(saved)


def test_unknown_optimizer(saved):
    def change(meta):
        config = json.loads(meta["compile_config"])
        config["optimizer"]["class_name"] = "subprocess.Popen"
        meta["compile_config"] = json.dumps(config)
    rewrite(saved, change)
    with pytest.raises(ValueError, match="Unknown optimizer: 'subprocess.Popen'"):
        load_model(saved)


def test_every_layer_model_with_a_frozen_layer_trains_on_after_loading(tmp_path):
    model, x = every_layer_model()
    frozen = next(l for l in model.layers if isinstance(l, L.Conv2D))
    frozen.trainable = False
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["acc"])
    rng = np.random.default_rng(4)
    x = [np.repeat(a, 4, axis=0) for a in x]
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, len(x[0]))]
    kcc.utils.set_random_seed(1)
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / "all.kcc")
    loaded = load_model(tmp_path / "all.kcc")
    assert not loaded.get_layer(frozen.name).trainable
    assert_same_predictions(model, loaded, x)
    before = frozen.get_weights()
    for m in (model, loaded):
        kcc.utils.set_random_seed(2)
        m.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(loaded.get_layer(frozen.name).get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_layer_inside_a_nested_model_and_beside_it_trains_on_after_loading(tmp_path):
    """One layer, one set of weights, before and after the file (it used to be refused)."""
    from kcc.models import Model
    rng = np.random.default_rng(0)
    dense = L.Dense(3, activation="tanh")
    i = L.Input(shape=(3,))
    inner = Model(i, dense(i))
    j = L.Input(shape=(3,))
    outer = Model(j, L.Dense(1)(dense(inner(j))))
    outer.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)
    outer.fit(x, y, batch_size=8, epochs=1, verbose=0)
    outer.save(tmp_path / "m.kcc")
    again = load_model(tmp_path / "m.kcc")
    assert len(again.weights) == len(outer.weights) == 4
    np.testing.assert_allclose(again.predict(x, verbose=0), outer.predict(x, verbose=0), rtol=1e-6)
    # the optimizer state came back too: the next epoch is the same in both
    a = outer.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history["loss"]
    b = again.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(b, a, rtol=1e-5)
    for w, v in zip(again.get_weights(), outer.get_weights()):
        np.testing.assert_allclose(w, v, rtol=1e-5, atol=1e-7)
