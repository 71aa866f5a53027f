"""The guide's residual block: as written it merges a layer never called on `x`, and kcc
says so; corrected (the layer called on `x`), it computes x + conv(x).

    python examples/residual.py
"""
import numpy as np

from kcc.layers import merge, Convolution2D, Input
from kcc.models import Model

# input tensor for a 3-channel 256x256 image
x = Input(shape=(3, 256, 256))
# 3x3 conv with 3 output channels (same as input channels)
y = Convolution2D(3, 3, 3, border_mode='same')
# this returns x + y.
try:
    z = merge([x, y], mode='sum')
except TypeError as error:
    print(f"as written: TypeError: {error}")

# corrected: call the layer on x
y = Convolution2D(3, 3, 3, border_mode='same')(x)
z = merge([x, y], mode='sum')
model = Model(x, z)
image = np.random.default_rng(0).standard_normal((1, 3, 256, 256)).astype(np.float32)
residual = model.predict(image) - image
conv_only = Model(x, y).predict(image)
print(f"corrected: output shape {model.output_shape}; "
      f"max |z - x - conv(x)| = {np.abs(residual - conv_only).max():.2e}")
