"""Keras 3's Rescaling and Normalization (keras/src/layers/preprocessing/): each compiles to
one element-wise op (the family `rescale`, math in kcc/ops/rescale.h).

Normalization keeps a mean and a variance per element of its kept axes (`axis`; None: one
for the whole input) as non-trainable weights, saved and loaded with the model; they come
from `mean=`/`variance=` or from `adapt(data)`, which computes them as Keras 3 does for a
numpy array (np.mean and np.var over every other axis)."""
import numbers

import numpy as np

from kcc.frontend.layer import Layer
from kcc.layers.prelu import runs


def _scalar(layer, arg, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"Layer {layer.name} (Rescaling): kcc takes a number for `{arg}`; "
                         f"per-channel arrays are not supported yet. Received: {arg}={value!r}")
    return float(value)


class Rescaling(Layer):
    """y = x * scale + offset."""

    supports_masking = True     # as Keras 3: the mask passes through

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _scalar(self, "scale", scale), _scalar(self, "offset", offset)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}

    def lower(self, g, inputs):
        (x,) = inputs
        return [g.op("rescale", [x], x.shape, weights=[None, None],
                     attrs={"mode": "rescale", "scale": self.scale, "offset": self.offset,
                            "size": int(np.prod(x.shape)), "runs": []})]


class Normalization(Layer):
    """(x - mean) / max(sqrt(variance), 1e-7), per element of the kept axes; invert=True:
    mean + x max(sqrt(variance), 1e-7)."""

    supports_masking = True     # as Keras 3: the mask passes through

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
            axis = (int(axis),)
        else:
            axis = tuple(axis)
        self.axis, self.invert = axis, bool(invert)
        self.input_mean, self.input_variance = mean, variance
        if (mean is not None) != (variance is not None):
            raise ValueError("When setting values directly, both `mean` and `variance` must be "
                             f"set. Received: mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError("When setting values directly, `mean` and `variance` must "
                                 f"have the same shape. Received: mean shape {np.shape(mean)} "
                                 f"and variance shape {np.shape(variance)}")
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError("The rank of `mean` must be less than or equal to the number "
                                 f"of axes ({len(self.axis)}). Received: mean shape "
                                 f"{np.shape(mean)} for axis {self.axis}")
        self.mean = self.variance = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError("All `axis` values must be in the range [-ndim, ndim). Received "
                             f"inputs with ndim={ndim}, while axis={self.axis}")
        self._keep_axis = tuple(sorted(a % ndim for a in self.axis))
        if 0 in self._keep_axis:
            raise ValueError(f"Layer {self.name} (Normalization): kcc keeps statistics per "
                             f"element of the sample's axes, not of the batch axis. Received "
                             f"axis={self.axis} for inputs of shape {tuple(input_shape)}; for "
                             f"one mean and variance over everything pass axis=None.")
        for d in self._keep_axis:
            if input_shape[d] is None:
                raise ValueError(f"All `axis` values to be kept must have a known shape. "
                                 f"Received axis={self.axis}, inputs.shape={tuple(input_shape)}, "
                                 f"with unknown axis at index {d}")
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        shape = tuple(input_shape[d] for d in self._keep_axis)
        self.mean = self.add_weight("mean", shape, "zeros", trainable=False)
        self.variance = self.add_weight("variance", shape, "ones", trainable=False)
        if self.input_mean is not None:     # Keras's broadcast of the given values
            expanded = [1] * len(shape)
            given = np.shape(self.input_mean)
            for i in range(1, len(given) + 1):
                expanded[-i] = given[-i]
            for w, v in ((self.mean, self.input_mean), (self.variance, self.input_variance)):
                w.assign(np.broadcast_to(np.reshape(np.asarray(v, np.float32), expanded), shape))

    def adapt(self, data):
        """The mean and variance of `data` (a numpy array: np.mean and np.var over every axis
        but the kept ones, as Keras 3), stored in the layer's weights."""
        if not isinstance(data, np.ndarray):
            raise TypeError(f"Layer {self.name} (Normalization): kcc's adapt() takes a numpy "
                            f"array; received {type(data).__name__}.")
        if not self.built:                    # built as a call on a batch of these would
            shape = (None,) + tuple(data.shape[1:])
            self.build(shape)
            self._finish_build(shape)
        else:
            built = self._build_input_shape
            for d in self._keep_axis:
                if d >= data.ndim or data.shape[d] != built[d]:
                    raise ValueError(f"The layer was built with input_shape={built}, but adapt() "
                                     "is being called with data with an incompatible shape, "
                                     f"data.shape={data.shape}")
        self.mean.assign(np.mean(data, axis=self._reduce_axis).astype(np.float32))
        self.variance.assign(np.var(data, axis=self._reduce_axis).astype(np.float32))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        def plain(v):
            return np.asarray(v).tolist() if v is not None else None
        return {**super().get_config(), "axis": list(self.axis) if len(self.axis) != 1 else self.axis[0],
                "invert": self.invert, "mean": plain(self.input_mean),
                "variance": plain(self.input_variance)}

    def lower(self, g, inputs):
        (x,) = inputs
        sample = tuple(x.shape)             # a value's shape leaves out the batch
        shared = {k for k in range(1, len(sample) + 1) if k not in self._keep_axis}
        return [g.op("rescale", [x], x.shape, weights=[self.mean, self.variance],
                     attrs={"mode": "denormalize" if self.invert else "normalize",
                            "size": int(np.prod(sample)), "runs": runs(sample, shared)})]
