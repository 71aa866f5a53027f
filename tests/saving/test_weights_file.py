"""kcc.saving: weights round-trip through safetensors, atomically, all or nothing."""
import json
import os

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

from kcc.saving import load_weights, save_weights
from kcc.saving import weights_file


class FakeVariable:
    """The frontend's variable, as far as saving cares: a live float32 buffer."""

    def __init__(self, name, shape, fill=0.0):
        self.name, self.shape = name, tuple(shape)
        self.value = np.full(shape, fill, dtype=np.float32)

    def assign(self, array):
        np.copyto(self.value, array)


class FakeLayer:
    def __init__(self, name, **shapes):
        self.name = name
        self.weights = [FakeVariable(w, shape) for w, shape in shapes.items()]


class FakeModel:
    def __init__(self, *layers):
        self.layers = list(layers)


def mlp(hidden=64, classes=10):
    return FakeModel(
        FakeLayer("input_1"),  # no weights: not recorded
        FakeLayer("dense_1", kernel=(4, hidden), bias=(hidden,)),
        FakeLayer("dropout"),
        FakeLayer("dense_2", kernel=(hidden, classes), bias=(classes,)),
    )


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for w in layer.weights:
            w.assign(rng.standard_normal(w.shape).astype(np.float32))


def values(model):
    return [w.value.copy() for layer in model.layers for w in layer.weights]


def test_round_trip_copies_into_the_live_buffers(tmp_path):
    source, target = mlp(), mlp()
    randomize(source)
    path = tmp_path / "model.weights.h5"  # Keras-style name; content is safetensors
    save_weights(source, path)
    buffers = [w.value for layer in target.layers for w in layer.weights]
    load_weights(target, path)
    for got, want in zip(values(target), values(source)):
        np.testing.assert_array_equal(got, want)
    # Same array objects: compiled code holding their pointers sees the load.
    after = [w.value for layer in target.layers for w in layer.weights]
    assert all(a is b for a, b in zip(after, buffers))


def test_file_layout_is_plain_safetensors(tmp_path):
    model = mlp()
    randomize(model)
    path = tmp_path / "w.safetensors"
    save_weights(model, path)
    tensors = safetensors.numpy.load_file(str(path))
    assert sorted(tensors) == ["dense_1/bias", "dense_1/kernel", "dense_2/bias", "dense_2/kernel"]
    np.testing.assert_array_equal(tensors["dense_2/kernel"], model.layers[3].weights[0].value)
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "kcc-weights" and meta["version"] == "1"
    assert json.loads(meta["layers"]) == ["dense_1", "dense_2"]


def test_save_is_atomic_on_error(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    save_weights(mlp(), path)
    before = path.read_bytes()

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(weights_file.st_numpy, "save_file", broken_save)
    model = mlp()
    randomize(model)
    with pytest.raises(OSError, match="disk full"):
        save_weights(model, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]


def test_shape_mismatch_names_layer_and_weight_and_changes_nothing(tmp_path):
    path = tmp_path / "w.safetensors"
    saved = mlp(classes=10)
    randomize(saved)
    save_weights(saved, path)
    model = mlp(classes=12)
    before = values(model)
    with pytest.raises(ValueError) as info:
        load_weights(model, path)
    message = str(info.value)
    assert ("Layer 'dense_2' weight 'kernel': the file has shape (64, 10), "
            "the model expects (64, 12)") in message
    assert "Layer 'dense_2' weight 'bias': the file has shape (10,), the model expects (12,)" in message
    assert str(path) in message
    # dense_1 matched, yet it was not loaded either: all or nothing.
    for got, want in zip(values(model), before):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("model, expected", [
    (FakeModel(FakeLayer("dense_1", kernel=(4, 64), bias=(64,))),
     "Layer 'dense_2': in the file, but the model has no layer of that name"),
    (FakeModel(*mlp().layers, FakeLayer("dense_3", kernel=(10, 2))),
     "Layer 'dense_3' is missing from the file (the model expects weights ['kernel'])"),
    (FakeModel(FakeLayer("dense_1", kernel=(4, 64), bias=(64,), gamma=(64,)),
               FakeLayer("dense_2", kernel=(64, 10), bias=(10,))),
     "Layer 'dense_1' weight 'gamma': missing from the file"),
    (FakeModel(FakeLayer("dense_1", kernel=(4, 64)),
               FakeLayer("dense_2", kernel=(64, 10), bias=(10,))),
     "Layer 'dense_1' weight 'bias': in the file, but the model's layer has no such weight"),
], ids=["extra-layer", "missing-layer", "missing-weight", "extra-weight"])
def test_structure_mismatch_is_reported(tmp_path, model, expected):
    path = tmp_path / "w.safetensors"
    save_weights(mlp(), path)
    before = values(model)
    with pytest.raises(ValueError) as info:
        load_weights(model, path)
    assert expected in str(info.value)
    for got, want in zip(values(model), before):
        np.testing.assert_array_equal(got, want)


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "junk.weights.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n this is not safetensors")
    with pytest.raises(ValueError, match="not a safetensors file") as info:
        load_weights(mlp(), path)
    assert str(path) in str(info.value)


def test_truncated_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(mlp(), path)
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(ValueError, match="truncated") as info:
        load_weights(mlp(), path)
    assert str(path) in str(info.value)


def test_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"dense_1/kernel": np.zeros((4, 64), np.float32)}, str(path))
    with pytest.raises(ValueError, match="not a kcc weights file"):
        load_weights(mlp(), path)


def test_integer_tensor_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    model = FakeModel(FakeLayer("dense_1", kernel=(2, 3)))
    safetensors.numpy.save_file(
        {"dense_1/kernel": np.zeros((2, 3), np.int32)}, str(path),
        metadata={"format": "kcc-weights", "version": "1", "layers": '["dense_1"]'})
    with pytest.raises(ValueError, match="the file has dtype I32"):
        load_weights(model, path)


def test_duplicate_layer_names_are_refused_on_save(tmp_path):
    model = FakeModel(FakeLayer("dense", kernel=(2, 2)), FakeLayer("dense", kernel=(2, 2)))
    with pytest.raises(ValueError, match="Two layers are named 'dense'"):
        save_weights(model, tmp_path / "w.safetensors")
    assert os.listdir(tmp_path) == []


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_weights(mlp(), tmp_path / "nope.safetensors")


def test_other_names_same_structure_load_by_order_with_a_warning(tmp_path):
    """The same architecture built again in one process (a notebook cell run twice) has
    other automatic names: its own weights file loads by layer order, as Keras does."""
    path = tmp_path / "w.safetensors"
    saved = mlp()
    randomize(saved, seed=3)
    save_weights(saved, path)
    again = FakeModel(FakeLayer("input_2"), FakeLayer("dense_4", kernel=(4, 64), bias=(64,)),
                      FakeLayer("dense_5", kernel=(64, 10), bias=(10,)))
    with pytest.warns(UserWarning, match=r"loaded by layer order.*dense_1 -> dense_4, dense_2 -> dense_5"):
        load_weights(again, path)
    for got, want in zip(values(again), values(saved)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("layers", [
    [FakeLayer("a", kernel=(4, 64), bias=(64,)), FakeLayer("b", kernel=(64, 11), bias=(11,))],   # a shape
    [FakeLayer("a", kernel=(4, 64), bias=(64,))],                                                 # a layer
    [FakeLayer("b", kernel=(64, 10), bias=(10,)), FakeLayer("a", kernel=(4, 64), bias=(64,))],   # the order
], ids=["shape", "count", "order"])
def test_by_order_needs_the_same_structure(tmp_path, layers):
    path = tmp_path / "w.safetensors"
    save_weights(mlp(), path)
    model = FakeModel(*layers)
    before = values(model)
    with pytest.raises(ValueError, match="is missing from the file"):
        load_weights(model, path)
    for got, want in zip(values(model), before):
        np.testing.assert_array_equal(got, want)


def test_a_deeply_nested_layer_list_is_no_order_to_go_by(tmp_path):
    """The file's "layers" entry, 100,000 arrays deep: a RecursionError from inside json,
    before; now the names do not match and there is no order to load by, as for no entry."""
    path = tmp_path / "w.safetensors"
    save_weights(mlp(), path)
    with safe_open(str(path), framework="np") as f:
        tensors, meta = {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())
    meta["layers"] = "[" * 100_000 + "]" * 100_000
    safetensors.numpy.save_file(tensors, str(path), metadata=meta)
    renamed = FakeModel(FakeLayer("dense_4", kernel=(4, 64), bias=(64,)),
                        FakeLayer("dense_5", kernel=(64, 10), bias=(10,)))
    with pytest.raises(ValueError, match="Layer 'dense_4' is missing from the file"):
        load_weights(renamed, path)


def test_saving_into_a_missing_folder_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"Cannot save to '{tmp_path}/nowhere/w.safetensors'"):
        save_weights(mlp(), tmp_path / "nowhere" / "w.safetensors")
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        save_weights(mlp(), tmp_path)


def test_the_same_weights_give_the_same_bytes(tmp_path):
    """safetensors writes metadata keys in a random order; kcc sorts them, so a file's
    checksum depends on the weights alone (reproducible exports and artifacts)."""
    from kcc.layers import Dense, Input
    from kcc.models import Model
    from kcc.export import write_weights
    x = Input(shape=(3,))
    model = Model(x, Dense(2, name="d")(x), name="net")
    model.compile("sgd", "mse")
    for kind in ("weights", "model", "export"):
        files = []
        for k in range(5):
            path = tmp_path / f"{kind}{k}"
            {"weights": model.save_weights, "model": model.save,
             "export": lambda p: write_weights(model, p)}[kind](path)
            files.append(path.read_bytes())
        assert len(set(files)) == 1, kind
        header = json.loads(files[0][8:8 + int.from_bytes(files[0][:8], "little")])
        assert list(header["__metadata__"]) == sorted(header["__metadata__"])
        if kind != "export":   # and the reordered header still reads
            load_weights(FakeModel(FakeLayer("d", kernel=(3, 2), bias=(2,))), tmp_path / f"{kind}0")
