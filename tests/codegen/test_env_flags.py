"""On/off environment settings read one way (kcc.utils.env.env_flag): KCC_WINOGRAD=false
turns Winograd off (it was on: anything but "0" read as on), a word that is neither is an
error naming the variable, unset is the default."""
import pytest

from kcc.layers.convolutional import use_winograd
from kcc.passes.stack import enabled
from kcc.utils.env import env_flag


@pytest.mark.parametrize("value,want", [("1", True), ("true", True), ("ON", True), (" yes ", True),
                                        ("0", False), ("false", False), ("Off", False), ("no", False),
                                        ("", "default")])
def test_env_flag_words(monkeypatch, value, want):
    monkeypatch.setenv("KCC_SOME_FLAG", value)
    assert env_flag("KCC_SOME_FLAG", "default") == want


def test_env_flag_refuses_other_words(monkeypatch):
    monkeypatch.setenv("KCC_SOME_FLAG", "maybe")
    with pytest.raises(ValueError, match=r"KCC_SOME_FLAG='maybe' is not an on/off setting"):
        env_flag("KCC_SOME_FLAG", True)


def test_the_settings_use_it(monkeypatch):
    conv = ((3, 3), (1, 1), (1, 1), 32, 32, 20, 20)
    assert use_winograd(*conv) == 4
    monkeypatch.setenv("KCC_WINOGRAD", "false")
    assert use_winograd(*conv) == 0
    monkeypatch.setenv("KCC_STACK_SHARED", "off")
    assert not enabled("cuda")
    monkeypatch.setenv("KCC_STACK_SHARED", "")
    assert enabled("cuda") and not enabled("cpu")
    monkeypatch.setenv("KCC_CUDA_SPLIT_K", "nope")
    from kcc.codegen.env import cuda_option
    with pytest.raises(ValueError, match="KCC_CUDA_SPLIT_K"):
        cuda_option("KCC_CUDA_SPLIT_K")
