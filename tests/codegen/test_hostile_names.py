"""Layer names come from users and land in generated C++: any string must compile, keep
its exact value in the ABI, and never inject code."""
import numpy as np

from kcc.layers import Dense, Input
from kcc.models import Model


def test_names_with_quotes_newlines_and_backslashes_compile_and_round_trip():
    evil = 'x";\n#error injected\n\\'  # any string but '/', which Keras forbids
    x = Input(shape=(3,), name="in put " + evil)
    h = Dense(4, activation="relu", name="hidden" + evil)(x)
    y = Dense(2, activation="softmax", name="out??=" + evil)(h)
    m = Model(x, y)
    m.compile("sgd", "categorical_crossentropy", metrics=["acc"])
    info = m._native.info
    assert info["inputs"][0]["name"] == "in put " + evil
    assert info["outputs"][0]["name"] == "out??=" + evil
    assert [w for w, _ in info["weights"]][0] == "hidden" + evil + "/kernel"
    p = m.predict(np.ones((2, 3), np.float32))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)


def test_names_that_collide_after_mangling_stay_distinct():
    x = Input(shape=(3,), name="a")
    h = Dense(3, name="a-b")(x)
    h = Dense(3, name="a_b")(h)
    y = Dense(2, name="a_b_kernel")(h)
    m = Model(x, y)
    m.compile("sgd", "mse")
    assert m.predict(np.ones((1, 3), np.float32)).shape == (1, 2)
