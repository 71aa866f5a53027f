"""The same architecture built again in one process (a notebook cell run twice) renders the
same unit and loads it from the build cache, though Keras numbers its layers anew
(kcc/codegen/canonical.py); what users read keeps the model's own names."""
import numpy as np
import pytest

import guide_models
import kcc.build.cache
from kcc.runtime.cuda import cuda_source

LOSSES = {"headline": dict(loss="binary_crossentropy", loss_weights=[1.0, 0.2], metrics=["accuracy"]),
          "shared_lstm": dict(loss="binary_crossentropy"), "vqa": dict(loss="categorical_crossentropy"),
          "video_qa": dict(loss="categorical_crossentropy"), "mlp": dict(loss="categorical_crossentropy"),
          "shared_vision": dict(loss="binary_crossentropy"),
          "inception": dict(loss="mse"), "residual": dict(loss="mse")}


def _compiled(name):
    model, _ = guide_models.GUIDE_MODELS[name]()
    model.compile("rmsprop", **LOSSES[name])
    return model


@pytest.mark.parametrize("name", sorted(guide_models.GUIDE_MODELS))
def test_a_rebuilt_model_renders_the_same_unit_and_hits_the_cache(name, monkeypatch):
    first = _compiled(name)

    def no_build(job):
        raise AssertionError(f"{name} was compiled again: {job.what}")
    monkeypatch.setattr(kcc.build.cache, "_build", no_build)
    again = _compiled(name)
    assert [l.name for l in again.layers] != [l.name for l in first.layers]   # new Keras names
    assert again._native.source == first._native.source
    assert again._native.library == first._native.library
    assert cuda_source(again._native) == cuda_source(first._native)


def test_what_users_read_keeps_the_models_names():
    model = _compiled("headline")
    again = _compiled("headline")
    native = again._native
    dense = [l.name for l in again.layers if l.name.startswith("dense_")]
    assert dense and all(n not in model._native.source for n in dense[-1:])   # numbered anew
    assert native.stat_names == ["loss", "main_output_loss", "aux_output_loss",
                                 "main_output_accuracy", "aux_output_accuracy"]
    assert [t["name"] for t in native.info["inputs"]] == ["main_input", "aux_input"]
    assert [t["name"] for t in native.info["outputs"]] == ["main_output", "aux_output"]
    assert [w for w, _ in native.info["weights"]] == [w.name for w in native.graph.weights]
    assert native.info["weights"][-1][0] == "aux_output/bias"

    ids = np.zeros((4, 12), np.int32)
    aux = np.zeros((4, 5), np.float32)
    labels = np.ones((4, 1), np.float32)
    history = again.fit([ids, aux], [labels, labels], epochs=1, batch_size=2, verbose=0)
    assert set(history.history) == set(native.stat_names)


def test_a_different_architecture_renders_another_unit():
    from kcc.layers import Dense, Input
    from kcc.models import Model

    def mlp(units):
        x = Input(shape=(6,))
        m = Model(x, Dense(2)(Dense(units, activation="relu")(x)))
        m.compile("sgd", "mse")
        return m._native.source
    assert mlp(4) == mlp(4)
    assert mlp(4) != mlp(5)


@pytest.mark.parametrize("user_name", ["d", "d_out"])
def test_a_layer_named_like_a_gradient_still_renders_canonical_names(user_name, monkeypatch):
    """Gradient buffers are named d_<value>; a layer the user called `d` would make
    canonical names starting with `d_`, which canonical() refuses, so the unit kept the real
    names (dense_7, ...) and every rebuild missed the cache."""
    from kcc.layers import Dense, Input
    from kcc.models import Model

    def build():
        inp = Input(shape=(3,))
        model = Model(inp, Dense(2, name=user_name)(Dense(4)(inp)))
        model.compile("sgd", loss="mse")
        return model
    first = build()
    assert "model" in first._native.source and "dense_1" in first._native.source
    monkeypatch.setattr(kcc.build.cache, "_build",
                        lambda job: (_ for _ in ()).throw(AssertionError(f"compiled again: {job.what}")))
    again = build()
    assert again._native.library == first._native.library
