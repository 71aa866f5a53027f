"""KerasTensor: a symbolic tensor, the value a layer call returns.

It holds no data, only a static shape (batch axis None), a dtype and where it came from:
`_keras_history = (layer, node_index, tensor_index)`. Equality and hashing stay Python's
identity defaults on purpose, so `lstm.output == encoded_a` is a plain bool as in the guide.
"""


class KerasTensor:
    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self._keras_history = None   # set by the Node that produces this tensor
        self._keras_mask = None      # a kcc.frontend.mask.Mask: which timesteps are real

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def _keras_shape(self):          # Keras 1 spelling, still found in old code
        return self.shape

    @property
    def node(self):
        """The Node that produced this tensor (None for a tensor made by hand)."""
        if self._keras_history is None:
            return None
        layer, node_index, _ = self._keras_history
        return layer._inbound_nodes[node_index]

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"
