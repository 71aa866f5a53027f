"""The CUDA unit sizes its fixed scratch for what its own templates use: the C++ unit's
workspace roles (Winograd tiles, im2col bands) are not allocated on the device."""
import re

from kcc.layers import Conv2D, Dense, Flatten, Input
from kcc.models import Model
from kcc.runtime.cuda import cuda_source


def _workspace_size(source: str) -> int:
    return int(re.search(r"/\*workspace_size=\*/(\d+)", source).group(1))


def test_cuda_unit_leaves_out_the_cpu_winograd_workspace():
    x = Input(shape=(12, 12, 16))
    h = Conv2D(16, 3, activation="relu")(x)   # 16 channels, 3x3, stride 1: Winograd on the CPU
    y = Dense(1)(Flatten()(h))
    m = Model(x, y)
    m.compile("sgd", "mse")
    assert _workspace_size(m._native.source) > 0   # the C++ unit's Winograd roles
    cuda = cuda_source(m._native)
    offset, fixed = map(int, re.search(r"float\* const FIX = WS \+ (\d+);\s*// (\d+) floats", cuda).groups())
    assert offset == 0
    assert _workspace_size(cuda) == fixed
