"""TimeDistributed(layer or model): apply it to every timestep of a (None, T, ...) input.

Nothing is copied and no loop runs over T: the wrapped computation sees the batch and time
axes folded into one, (n * T, ...) rows, which is the same memory as (n, T, ...). The
compiler records the fold on the values inside (see GraphBuilder.folded), and the kernels
simply run on n * T rows.
"""
from kcc.frontend.input_spec import check_input_specs
from kcc.frontend.layer import Layer
from kcc.frontend.mask import refuse
from kcc.frontend.tensor import KerasTensor
from kcc.layers.embedding import Embedding


class TimeDistributed(Layer):
    supports_masking = True     # Keras 3: the mask passes on; each step's to the wrapped call
    _uses_mask = True

    def compute_mask(self, inputs, previous_mask):
        if previous_mask is not None and self.layer._uses_mask:
            refuse(self, f"for each timestep of {self.layer.name} ({type(self.layer).__name__})")
        return previous_mask

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("TimeDistributed wraps a layer or a model instance. Received: "
                             f"layer={layer!r} (of type {type(layer).__name__})")
        self.layer = layer
        super().__init__(**kwargs)
        if not self._trainable:          # TimeDistributed(layer, trainable=False) freezes it
            self.trainable = False

    @Layer.trainable.setter
    def trainable(self, value):
        # As in Keras, freezing the wrapper freezes the wrapped layer (or model) too.
        self._trainable = bool(value)
        self.layer.trainable = value

    def _inner_shape(self, input_shape):
        if len(input_shape) < 3 or input_shape[1] is None:
            raise ValueError(f"Layer {self.name} (TimeDistributed) expects inputs of shape "
                             f"(None, timesteps, ...) with a known number of timesteps; "
                             f"received {tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[2:])

    def _int_input_as_float(self, i: int) -> bool:
        return self.layer._int_input_as_float(i)

    def _check_num_inputs(self, tensors):
        """One input, and its timesteps fit the wrapped layer, which checks the per-step
        shape as it checks a call of its own: the rank it takes, and once built (a model
        always is) the sizes its weights fix."""
        super()._check_num_inputs(tensors)
        x = tensors[0]
        step = KerasTensor(self._inner_shape(x.shape), x.dtype, x.name)
        try:
            self.layer._check_num_inputs([step])
            check_input_specs(self.layer, self.layer.input_spec, [step])
        except ValueError as e:
            raise ValueError(f"Layer {self.name} (TimeDistributed) feeds each timestep of its "
                             f"input {x.shape} to {self.layer.name} as shape {step.shape}, which "
                             f"{self.layer.name} does not accept: {e}") from None

    def build(self, input_shape):
        if not self.layer.built:       # a model is built already; a layer builds per timestep
            self.layer.build(self._inner_shape(input_shape))

    def compute_output_shape(self, input_shape):
        out = self.layer.compute_output_shape(self._inner_shape(input_shape))
        if isinstance(out, list):
            raise ValueError(f"Layer {self.name}: TimeDistributed needs a wrapped layer with one "
                             f"output; {self.layer.name} has {len(out)}")
        return (input_shape[0], input_shape[1]) + tuple(out[1:])

    def compute_output_dtype(self, input_dtype):
        return self.layer.compute_output_dtype(input_dtype)

    @property
    def weights(self):
        return self.layer.weights

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights

    @property
    def non_trainable_weights(self):
        return self.layer.non_trainable_weights

    def count_params(self):
        return self.layer.count_params()

    def get_config(self):
        from kcc.saving.serialization import layer_entry  # deferred: saving imports layers
        return {**super().get_config(), "layer": layer_entry(self.layer)}

    @classmethod
    def from_config(cls, config):
        from kcc.saving.serialization import deserialize_layer  # deferred: saving imports layers
        config = dict(config)
        return cls(deserialize_layer(config.pop("layer"), "TimeDistributed's `layer`"), **config)

    def lower(self, g, inputs):
        (x,) = inputs
        if getattr(self.layer, "activity_regularizer", None) is not None:
            raise NotImplementedError(
                f"Layer {self.layer.name}: an activity_regularizer inside TimeDistributed is not "
                "supported by kcc yet; regularize the layer's weights, or the output of the "
                "TimeDistributed wrapper.")
        if isinstance(self.layer, Embedding):
            # a lookup per id whatever the shape: no fold needed, and the ids stay the model
            # input the engine range-checks (a folded view of them would not be)
            return self.layer.lower(g, [x])
        steps = x.shape[0]
        with g.folded(steps):
            rows = g.view(x, x.shape[1:])               # (n, T, ...) seen as (n * T, ...)
            with g.inner_nodes():
                (y,) = self.layer.lower(g, [rows])
        return [g.view(y, (steps,) + tuple(y.shape))]   # and back: (n, T, ...)
