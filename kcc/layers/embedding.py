"""Embedding: integer ids -> rows of a trainable table, (None, L) -> (None, L, output_dim).

The ids come from an `Input(dtype='int32')`, as they are or through Flatten/Reshape views:
the engine checks that input against `input_dim` in Python (GraphBuilder.require_ids_below)
before native code indexes the table with them, so the generated gather never reads out of
bounds.
"""
from kcc import initializers
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.frontend.mask import Mask
from kcc.frontend.tensor import KerasTensor
from kcc.layers.args import legacy, positive_int, unsupported, weight_rules, weight_rules_config


def _input_length(value):
    """None, a positive int, or a tuple of them (Keras 2 allowed a tuple for rank > 2)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return tuple(None if v is None else positive_int("input_length", v) for v in value)
    return (positive_int("input_length", value),)


class Embedding(Layer):
    _takes_int_inputs = True   # its inputs are ids

    def __init__(self, input_dim=None, output_dim=None, embeddings_initializer=None,
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, *,
                 init=None, W_regularizer=None, W_constraint=None, dropout=None, sparse=False,
                 lora_rank=None, lora_alpha=None, quantization_config=None, **kwargs):
        # Keras 1 names: init, W_regularizer, W_constraint (and dropout, a Keras 1 extra).
        if input_dim is None or output_dim is None:
            raise TypeError("Embedding needs `input_dim` (the vocabulary size: ids lie in "
                            "[0, input_dim)) and `output_dim` (the size of each vector), "
                            "e.g. Embedding(input_dim=10000, output_dim=512).")
        self.input_dim = positive_int("input_dim", input_dim)
        self.output_dim = positive_int("output_dim", output_dim)
        self.embeddings_initializer = initializers.get(
            legacy("embeddings_initializer", embeddings_initializer, "init", init, "uniform"))
        self.input_length = _input_length(input_length)
        unsupported("Embedding", dropout=dropout or None, sparse=sparse or None, lora_rank=lora_rank,
                    lora_alpha=lora_alpha, quantization_config=quantization_config)
        if (self.input_length is not None and None not in self.input_length
                and kwargs.get("input_shape") is None and kwargs.get("batch_input_shape") is None):
            kwargs["input_shape"] = self.input_length     # Keras: input_length sets the shape
        super().__init__(**kwargs)
        weight_rules(self, locals(), "embeddings")
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero     # as Keras 3
        self.embeddings = None

    def compute_mask(self, inputs, previous_mask):
        """mask_zero: id 0 is padding, the step is masked (Keras: ids != 0)."""
        if not self.mask_zero:
            return None
        return Mask("not_equal", tuple(inputs.shape[1:]), tensor=inputs, value=0)

    def __call__(self, inputs, **kwargs):
        t = inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs
        if isinstance(t, KerasTensor) and t.dtype != "int32":
            raise ValueError(f"Layer {self.name} (Embedding) reads integer ids: its input must be "
                             f"an Input(..., dtype='int32'); received a {t.dtype} tensor of shape "
                             f"{t.shape}.")
        return super().__call__(inputs, **kwargs)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        # ids of any sequence length and rank: the table fixes no input shape
        self.input_spec = InputSpec(dtype="int32")

    def compute_output_shape(self, input_shape):
        given = tuple(input_shape[1:])
        if self.input_length is not None:
            want = self.input_length
            if len(want) != len(given) or any(w is not None and w != d
                                              for w, d in zip(want, given)):
                length = want[0] if len(want) == 1 else want
                raise ValueError(f"Layer {self.name} (Embedding) has input_length={length}, so it "
                                 f"expects inputs of shape {(None,) + want}; received an input "
                                 f"of shape {tuple(input_shape)}.")
        return (input_shape[0],) + given + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                **weight_rules_config(self, "embeddings"),
                "mask_zero": self.mask_zero,
                "input_length": (None if self.input_length is None else
                                 self.input_length[0] if len(self.input_length) == 1
                                 else self.input_length)}

    def lower(self, g, inputs):
        (ids,) = inputs
        g.require_ids_below(ids, self.input_dim)
        out = g.op("embedding", [ids], tuple(ids.shape) + (self.output_dim,),
                   weights=[self.embeddings],
                   attrs={"input_dim": self.input_dim, "output_dim": self.output_dim})
        return [out]
