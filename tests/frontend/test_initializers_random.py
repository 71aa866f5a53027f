import numpy as np
import pytest

from kcc import initializers
from kcc.layers import Dense, Input
from kcc.models import Model
from kcc.utils import make_rng, native_seed, set_random_seed


def test_fans():
    assert initializers.compute_fans(()) == (1, 1)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans((784, 64)) == (784, 64)
    assert initializers.compute_fans((3, 3, 16, 32)) == (144, 288)


def test_glorot_uniform_bounds_and_spread():
    w = initializers.get("glorot_uniform")((784, 64))
    limit = np.sqrt(6 / (784 + 64))
    assert w.dtype == np.float32 and w.shape == (784, 64)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    assert abs(w.std() - limit / np.sqrt(3)) < 0.02 * limit


def test_he_normal_is_truncated_with_target_std():
    w = initializers.HeNormal()((1000, 400))
    std = np.sqrt(2 / 1000)
    assert abs(w.std() - std) < 0.02 * std
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 + 1e-7   # truncated at 2 sigma
    assert abs(w.mean()) < 0.01 * std


@pytest.mark.parametrize("name, lo, hi, std", [
    ("uniform", -0.05, 0.05, 0.05 / np.sqrt(3)), ("normal", None, None, 0.05)])
def test_keras1_uniform_and_normal(name, lo, hi, std):
    w = initializers.get(name)((500, 400))
    if lo is not None:
        assert w.min() >= lo and w.max() <= hi
    assert abs(w.std() - std) < 0.02 * std


def test_constant_initializers_and_classes():
    assert np.all(initializers.get("zeros")((2, 3)) == 0)
    assert np.all(initializers.get("ones")((4,)) == 1)
    assert np.all(initializers.Constant(2.5)((2,)) == 2.5)
    w = initializers.RandomUniform(minval=1, maxval=2)((1000,))
    assert w.min() >= 1 and w.max() <= 2
    q = initializers.Orthogonal()((6, 4))
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)


def test_seeded_initializer_repeats():
    init = initializers.GlorotUniform(seed=3)
    np.testing.assert_array_equal(init((5, 5)), init((5, 5)))


def test_get_accepts_instances_classes_configs_functions_and_rejects_unknown():
    inst = initializers.HeNormal()
    assert initializers.get(inst) is inst
    assert isinstance(initializers.get(initializers.Zeros), initializers.Zeros)
    cfg = initializers.serialize(initializers.RandomNormal(stddev=2.0))
    assert initializers.get(cfg).stddev == 2.0
    w = initializers.get(lambda shape, dtype: np.full(shape, 7))((2,))
    assert w.dtype == np.float32 and list(w) == [7, 7]
    with pytest.raises(ValueError, match="Unknown initializer: 'glorot'.*glorot_uniform"):
        initializers.get("glorot")


def _weights_after_seed(seed):
    set_random_seed(seed)
    x = Input(shape=(20,))
    model = Model(x, Dense(3, kernel_initializer="he_normal")(Dense(8)(x)))
    return model.get_weights()


def test_set_random_seed_makes_models_reproducible():
    a, b, c = _weights_after_seed(1), _weights_after_seed(1), _weights_after_seed(2)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0][:8, :3], a[2][:8, :3])    # layers draw different values


def test_make_rng_and_native_seed_are_deterministic_after_seeding():
    set_random_seed(42)
    first = (make_rng().random(3), native_seed(), native_seed())
    set_random_seed(42)
    second = (make_rng().random(3), native_seed(), native_seed())
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1:] == second[1:] and first[1] != first[2]
    assert 0 <= first[1] < 2**64


def test_set_random_seed_validates():
    with pytest.raises(ValueError, match="non-negative integer"):
        set_random_seed(-1)
