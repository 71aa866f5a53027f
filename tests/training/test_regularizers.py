"""Weight regularizers, activity regularizers and constraints (kcc.regularizers,
kcc.constraints), against Keras 3 (torch backend) where it is installed: the penalties join
the loss fit reports and evaluate returns, their gradients the weights' (and the layers'
outputs'), and each constraint projects its weight after the update."""
import os

import numpy as np
import pytest

import kcc
from kcc import constraints as C
from kcc import regularizers as R
from kcc.models import Model


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def _build(keras_like):
    """Conv2D, Embedding and Dense with regularizers and constraints of every kind, a frozen
    regularized Dense (Keras counts trainable weights only), and activity regularizers (the
    softmax output's keeps its loss from fusing with the softmax)."""
    L, reg, con = keras_like.layers, keras_like.regularizers, keras_like.constraints
    image = L.Input(shape=(5, 5, 2), name="image")
    ids = L.Input(shape=(3,), dtype="int32", name="ids")
    a = L.Conv2D(3, (3, 3), activation="tanh", name="conv", kernel_regularizer=reg.L2(0.02),
                 bias_regularizer="l1", kernel_constraint=con.UnitNorm(axis=[0, 1, 2]),
                 activity_regularizer=reg.L2(0.02))(image)
    b = L.Embedding(10, 4, name="emb", embeddings_regularizer=reg.L1(0.01),
                    embeddings_constraint=con.MaxNorm(0.08, axis=1),
                    activity_regularizer="l1")(ids)
    h = L.Concatenate()([L.Flatten()(a), L.Flatten()(b)])
    h = L.Dense(6, activation="tanh", name="hidden", kernel_regularizer=reg.L1L2(0.01, 0.02),
                bias_regularizer=reg.L2(0.05), kernel_constraint=con.MaxNorm(0.7),
                bias_constraint=con.NonNeg(), activity_regularizer=reg.L1L2(0.01, 0.02))(h)
    h = L.Dense(6, name="frozen", kernel_regularizer=reg.L2(0.5), trainable=False)(h)
    y = L.Dense(3, activation="softmax", name="out", kernel_regularizer=reg.L1(0.03),
                kernel_constraint=con.MinMaxNorm(0.3, 0.6, rate=0.7, axis=1),
                activity_regularizer=reg.L2(0.1))(h)
    return [image, ids], y


def _data(n):
    rng = np.random.default_rng(0)
    return ([rng.normal(size=(n, 5, 5, 2)).astype(np.float32),
             rng.integers(0, 10, (n, 3)).astype(np.int32)],
            np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)])


@pytest.fixture(scope="module")
def trained():
    """kcc and Keras, same initial weights, fit 2 epochs (SGD with momentum; batches of 16
    split over 2 threads, so each thread adds its share of the penalty's gradient)."""
    keras = _keras()
    os.environ["KCC_NUM_THREADS"] = "2"
    try:
        ours = Model(*_build(kcc))
        ours.compile(kcc.optimizers.SGD(0.1, momentum=0.5), "categorical_crossentropy")
    finally:
        del os.environ["KCC_NUM_THREADS"]
    theirs = keras.Model(*_build(keras))
    theirs.compile(keras.optimizers.SGD(0.1, momentum=0.5), "categorical_crossentropy")
    initial = ours.get_weights()
    for layer in ours.layers:
        if layer.weights:
            theirs.get_layer(layer.name).set_weights(layer.get_weights())
    x, y = _data(40)
    val = _data(8)
    runs = [m.fit(x, y, batch_size=16, epochs=2, shuffle=False, validation_data=val,
                  verbose=0).history for m in (ours, theirs)]
    return ours, theirs, runs, initial, (x, y)


def test_fit_history_and_weights_match_keras(trained):
    ours, theirs, (h_ours, h_theirs), initial, (x, y) = trained
    assert set(h_ours) == set(h_theirs) == {"loss", "val_loss"}
    for key in h_theirs:
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=1e-5, err_msg=key)
    for layer in (l for l in ours.layers if l.weights):
        for w, a, b in zip(layer.weights, layer.get_weights(),
                           theirs.get_layer(layer.name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=w.path)
    # the constraints held (and the frozen layer kept its weights)
    assert (ours.get_layer("hidden").bias.numpy() >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(ours.get_layer("conv").kernel.numpy().reshape(-1, 3),
                                              axis=0), 1.0, rtol=1e-5)
    assert np.linalg.norm(ours.get_layer("emb").embeddings.numpy(), axis=1).max() <= 0.08 + 1e-6
    frozen = [k for k, w in enumerate(ours.weights) if w.path.startswith("frozen/")]
    for k in frozen:
        np.testing.assert_array_equal(ours.get_weights()[k], initial[k])
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(theirs.evaluate(x, y, verbose=0),
                                                           rel=1e-5)


def test_penalty_is_in_the_loss_and_its_gradient_in_the_weights(trained):
    """evaluate = data loss + penalties of the trainable weights + activity penalties over
    the batch size (numpy). The native gradients are torch's autograd of Keras's loss with
    its `model.losses`, and those of a regularized weight downstream of no L1 kink match
    finite differences of evaluate."""
    import torch
    keras = _keras()
    ours, theirs, _, _, (x, y) = trained
    x, y = [v[:8] for v in x], y[:8]
    penalty = sum(w.regularizer(w.numpy()) for w in ours.trainable_weights if w.regularizer)
    layers = [ours.get_layer(name) for name in ("conv", "emb", "hidden", "out")]
    outputs = Model(ours.inputs, [layer.output for layer in layers]).predict(x, verbose=0)
    activity = sum(layer.activity_regularizer(o) for layer, o in zip(layers, outputs)) / 8
    data = -np.mean(np.sum(y * np.log(outputs[-1]), axis=1))
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(data + penalty + activity, rel=1e-5)
    _, grads = ours._native.gradients(ours._x(x), ours._y(y))
    theirs.set_weights(ours.get_weights())
    for v in theirs.trainable_weights:
        v.value.grad = None               # fit's last batch left its gradients there
    pred = theirs([torch.as_tensor(v) for v in x], training=True)
    loss = (keras.losses.categorical_crossentropy(torch.as_tensor(y), pred).mean()
            + sum(theirs.losses))
    loss.backward()
    for v in theirs.trainable_weights:
        np.testing.assert_allclose(grads[v.path], v.value.grad.cpu().numpy(), rtol=1e-4,
                                   atol=1e-6, err_msg=v.path)
    w = ours.get_layer("out").kernel      # L1 weight penalty; only the L2 activity after it
    for i, j in ((0, 0), (3, 1), (5, 2)):
        keep = w.numpy().copy()
        loss = []
        for step in (1e-3, -1e-3):
            w.assign(keep + step * (np.arange(w.size) == i * w.shape[1] + j).reshape(w.shape))
            loss.append(ours.evaluate(x, y, verbose=0, batch_size=8))
        w.assign(keep)
        assert grads["out/kernel"][i, j] == pytest.approx((loss[0] - loss[1]) / 2e-3, rel=1e-2,
                                                          abs=2e-4)


def test_config_round_trips_and_reads_keras_configs(trained):
    keras = _keras()
    ours = trained[0]
    rebuilt = kcc.models.model_from_json(ours.to_json())
    for name in ("conv", "emb", "hidden", "out"):
        a, b = ours.get_layer(name).get_config(), rebuilt.get_layer(name).get_config()
        assert a["activity_regularizer"]["module"] == "keras.regularizers"
        assert {k: v for k, v in a.items() if k != "name"} == {k: v for k, v in b.items()
                                                                if k != "name"}
    assert rebuilt.get_layer("hidden").kernel_regularizer == R.L1L2(0.01, 0.02)
    assert rebuilt.get_layer("out").kernel_constraint == C.MinMaxNorm(0.3, 0.6, 0.7, 1)
    # Keras's serialized objects read in kcc, and kcc's in Keras
    for theirs, mine in ((keras.regularizers.L1L2(0.1, 0.2), R.L1L2(0.1, 0.2)),
                         (keras.regularizers.L2(0.3), R.L2(0.3)),
                         (keras.constraints.MaxNorm(3, axis=[0, 1]), C.MaxNorm(3, axis=[0, 1])),
                         (keras.constraints.NonNeg(), C.NonNeg())):
        module = keras.regularizers if "Norm" not in type(theirs).__name__ and not isinstance(
            theirs, keras.constraints.Constraint) else keras.constraints
        ours_mod = R if module is keras.regularizers else C
        assert ours_mod.get(module.serialize(theirs)) == mine
        assert module.deserialize(ours_mod.serialize(mine)).get_config() == theirs.get_config()


def test_names_aliases_and_numpy_references():
    w = np.array([[1.0, -2.0], [0.0, 3.0]], np.float32)
    assert R.get("l1")(w) == pytest.approx(0.06) and R.get("l2")(w) == pytest.approx(0.14)
    assert R.get("l1_l2") == R.L1L2(0.01, 0.01) and R.l1_l2() == R.L1L2(0.01, 0.01)
    assert R.l2(0.5) == R.L2(0.5) and R.get("L1L2") == R.L1L2()
    assert C.get("max_norm") == C.MaxNorm(2, 0) and C.get("unit_norm") == C.UnitNorm()
    norms = np.linalg.norm(C.MaxNorm(2.0)(w), axis=0)
    np.testing.assert_allclose(norms, [1.0, 2.0], rtol=1e-6)    # column 1 (norm sqrt 13) clipped
    np.testing.assert_array_equal(C.NonNeg()(w), [[1, 0], [0, 3]])
    # Keras 1 names
    d = kcc.layers.Dense(2, W_regularizer=R.l2(0.1), b_regularizer="l1", W_constraint="maxnorm",
                         b_constraint=C.NonNeg())
    assert (d.kernel_regularizer, d.bias_regularizer) == (R.L2(0.1), R.L1(0.01))
    assert (d.kernel_constraint, d.bias_constraint) == (C.MaxNorm(), C.NonNeg())
    e = kcc.layers.Embedding(5, 2, W_regularizer="l2", W_constraint="unit_norm")
    assert (e.embeddings_regularizer, e.embeddings_constraint) == (R.L2(), C.UnitNorm())


def test_what_kcc_cannot_compile_is_refused_by_name():
    Dense = kcc.layers.Dense
    with pytest.raises(NotImplementedError, match="d1.*kernel_regularizer.*OrthogonalRegularizer"):
        Dense(2, name="d1", kernel_regularizer=R.OrthogonalRegularizer())
    with pytest.raises(NotImplementedError, match="d2.*bias_regularizer.*Python function"):
        Dense(2, name="d2", bias_regularizer=lambda w: 0.0)
    with pytest.raises(NotImplementedError, match="d3.*kernel_constraint.*Python function"):
        Dense(2, name="d3", kernel_constraint=lambda w: w)
    with pytest.raises(NotImplementedError, match="d4.*activity_regularizer.*OrthogonalReg"):
        Dense(2, name="d4", activity_regularizer="orthogonal_regularizer")
    t = kcc.layers.Input((3, 4))
    wrapped = Model(t, kcc.layers.TimeDistributed(Dense(2, name="d5", activity_regularizer="l2"))(t))
    with pytest.raises(NotImplementedError, match="d5: an activity_regularizer inside "
                                                  "TimeDistributed"):
        wrapped.compile("sgd", "mse")
    with pytest.raises(ValueError, match="l2.*non-negative.*-1"):
        R.L2(-1)
    with pytest.raises(ValueError, match="regularizer identifier.*'l3'"):
        Dense(2, kernel_regularizer="l3")
    x = kcc.layers.Input(shape=(2, 3, 4))
    with pytest.raises(NotImplementedError, match="c1.*kernel.*adjacent.*axis=\\[0, 3\\]"):
        kcc.layers.Conv2D(2, 1, name="c1", kernel_constraint=C.MaxNorm(axis=[0, 3]))(x)
    with pytest.raises(ValueError, match="c2.*axis.*received axis=4"):
        kcc.layers.Conv2D(2, 1, name="c2", kernel_constraint=C.UnitNorm(axis=4))(x)


def test_export_of_a_regularized_model_is_inference_only(tmp_path):
    """No weight penalty nor constraint in the exported predict; an activity regularizer's
    op only copies there (its penalty is counted in train and test steps only)."""
    from kcc.export import export_model
    inputs, y = _build(kcc)
    model = Model(inputs, y)
    folder = export_model(model, tmp_path / "out", name="reg")
    source = (folder / "src/model.cpp").read_text()
    assert "kcc::reg::apply" not in source and "kcc::constraint::" not in source
    calls = [line for line in source.splitlines() if "_activity_forward(" in line
             and "static" not in line]
    assert len(calls) == 4 and all(line.rstrip().endswith("false);") for line in calls)
