"""Flatten and Reshape: new shapes over the same memory (views, no copy)."""
from kcc.frontend.layer import Layer
from kcc.frontend.shapes import num_elements

_DATA_FORMATS = (None, "channels_last", "channels_first")


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...), keeping memory order, as Keras 1 and
    Keras 3's default do; only an explicit data_format='channels_first' reorders, to Keras 3's
    channels-last order (DESIGN.md, "Keras compatibility rules")."""

    _takes_int_inputs = True

    def __init__(self, data_format=None, **kwargs):
        if data_format not in _DATA_FORMATS:
            raise ValueError("Received an invalid value for `data_format`, expected "
                             f"'channels_last' or 'channels_first'. Received: {data_format!r}")
        super().__init__(**kwargs)
        self.data_format = data_format

    def _reorders(self, sample_shape) -> bool:
        """Whether flattening moves values: channels_first with more than one channel and
        more than one position, (C, H, W) -> (H, W, C)."""
        size = num_elements(sample_shape)
        return (self.data_format == "channels_first" and len(sample_shape) >= 2
                and 1 < sample_shape[0] < size)

    def _check_num_inputs(self, tensors):
        super()._check_num_inputs(tensors)
        t = tensors[0]
        if t.dtype == "int32" and self._reorders(t.shape[1:]):
            raise ValueError(f"Layer {self.name} (Flatten, data_format='channels_first') moves "
                             f"channels last, which kcc does for float32 tensors only; received "
                             f"the int32 tensor {t.name} of shape {t.shape}. Flatten ids with "
                             f"Flatten() (memory order), or declare the Input float32 when its "
                             f"values are features.")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], num_elements(input_shape[1:]))

    def compute_output_dtype(self, input_dtype):
        return input_dtype

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}

    def lower(self, g, inputs):
        (x,) = inputs
        size = num_elements(x.shape)
        if self._reorders(x.shape):
            # Keras 3 moves channels last before flattening, (C, H, W) -> (H, W, C): a
            # transpose of each sample read as (C, H*W); only a view when one side is 1.
            c = x.shape[0]
            return [g.op("transpose", [x], (size,), attrs={"rows": c, "cols": size // c})]
        return [g.view(x, (size,))]


class Reshape(Layer):
    """(batch, ...) -> (batch,) + target_shape; one entry may be -1 (inferred)."""

    _takes_int_inputs = True

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError("Received an invalid value for `target_shape`, expected a tuple "
                             f"of integers. Received: target_shape={target_shape!r}") from None
        if any(d != -1 and d <= 0 for d in target) or target.count(-1) > 1:
            raise ValueError("Received an invalid value for `target_shape`: entries must be "
                             "positive, with at most one -1 (inferred). "
                             f"Received: target_shape={target_shape!r}")
        self.target_shape = target

    def _resolve(self, sample_shape):
        """The target shape with -1 filled in, for an input of per-sample `sample_shape`."""
        total = num_elements(sample_shape)
        known = num_elements([d for d in self.target_shape if d != -1])
        fits = total % known == 0 if -1 in self.target_shape else total == known
        if not fits:
            raise ValueError(f"Layer {self.name} cannot reshape an input of shape "
                             f"{(None,) + tuple(sample_shape)} ({total} values per sample) to "
                             f"target_shape {self.target_shape}.")
        return tuple(total // known if d == -1 else d for d in self.target_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape[1:])

    def compute_output_dtype(self, input_dtype):
        return input_dtype

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}

    def lower(self, g, inputs):
        (x,) = inputs
        return [g.view(x, self._resolve(x.shape))]
