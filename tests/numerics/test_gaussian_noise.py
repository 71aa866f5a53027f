"""GaussianNoise and GaussianDropout: the noise seen through gradients, the identity at
inference, seeds, config/JSON round trip and errors.

In `1 -> Dense('pre', D, ones) -> noise layer -> Dense('probe', 1, ones)` trained with mae
against a target far above the prediction, d loss / d prediction = -1, so d loss /
d probe_kernel[j] = -y[j]: the forward's noisy value of column j (1 + stddev z_j for
GaussianNoise on a 1, the factor 1 + stddev z_j for GaussianDropout). d loss /
d pre_kernel[j] = the backward's dx[j] = -1 (GaussianNoise) or -(1 + stddev z_j)
(GaussianDropout): it must be the forward's factor, element by element."""
import json

import numpy as np
import pytest

from kcc import optimizers
from kcc.layers import Dense, GaussianDropout, GaussianNoise, Input
from kcc.models import Model, model_from_json

D = 4000        # columns: a tight estimate of the noise's mean and standard deviation


def _probe(layer):
    inp = Input(shape=(1,))
    h = layer(Dense(D, use_bias=False, kernel_initializer="ones", name="pre")(inp))
    out = Dense(1, use_bias=False, kernel_initializer="ones", name="probe")(h)
    model = Model(inp, out)
    model.compile(optimizers.SGD(0.0), "mae")
    return model


def _gradients(model, seed):
    x, y = np.ones((1, 1), np.float32), np.full((1, 1), 1e6, np.float32)
    _, grads = model._native.gradients(model._x(x), model._y(y), seed=seed)
    return -grads["probe/kernel"][:, 0].astype(np.float64), -grads["pre/kernel"][0]


@pytest.mark.parametrize("layer, stddev", [(GaussianNoise(0.3), 0.3),
                                           (GaussianDropout(0.2), 0.5)])   # sqrt(.2 / .8)
def test_noise_is_normal_and_backward_uses_it(layer, stddev):
    model = _probe(layer)
    y, dx = _gradients(model, seed=11)
    z = (y - 1.0) / stddev
    assert abs(z.mean()) < 5 / np.sqrt(D), z.mean()
    assert abs(z.std() - 1.0) < 5 / np.sqrt(2 * D), z.std()
    assert abs(np.mean(np.abs(z) < 1) - 0.6827) < 0.03             # a normal's mass in 1 sd
    if isinstance(layer, GaussianDropout):
        np.testing.assert_array_equal(dx, y.astype(np.float32))     # dy times the same factor
    else:
        np.testing.assert_array_equal(dx, np.ones(D, np.float32))   # d(x + noise)/dx = 1
    # the same seed and step draw the same noise, another seed other noise
    np.testing.assert_array_equal(_gradients(model, seed=11)[0], y)
    assert not np.allclose(_gradients(model, seed=12)[0], y)
    # inference: the identity
    np.testing.assert_allclose(model.predict(np.ones((2, 1), np.float32), verbose=0), D)


def test_zero_noise_is_the_identity_in_training():
    for layer in (GaussianNoise(0.0), GaussianDropout(0.0)):
        y, dx = _gradients(_probe(layer), seed=1)
        np.testing.assert_array_equal(y, 1.0)


def test_config_round_trip_keras1_names_and_errors():
    x = Input(shape=(3,))
    h = GaussianDropout(0.4, seed=5, name="gd")(GaussianNoise(0.1, name="gn")(x))
    m = model_from_json(Model(x, h).to_json())
    assert m.get_layer("gn").get_config()["stddev"] == 0.1
    cfg = m.get_layer("gd").get_config()
    assert (cfg["rate"], cfg["seed"]) == (0.4, 5)
    assert json.loads(Model(x, h).to_json())          # plain JSON
    assert GaussianNoise(sigma=0.2).stddev == 0.2 and GaussianDropout(p=0.3).rate == 0.3
    for bad in (-0.1, 1.5, "0.1", True, None):
        with pytest.raises(ValueError, match=r"'gn_bad'.*`stddev`.*\[0, 1\]"):
            GaussianNoise(bad, name="gn_bad")
    for bad in (-0.1, 1.0, None):
        with pytest.raises(ValueError, match=r"'gd_bad'.*`rate`.*\[0, 1\)"):
            GaussianDropout(bad, name="gd_bad")
