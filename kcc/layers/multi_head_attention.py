"""MultiHeadAttention as Keras 3.15, on (batch, T, features) query, value and key.

Weights as Keras 3's EinsumDense sublayers, in its order and under its paths: query/kernel
(dq, heads, key_dim), query/bias (heads, key_dim), key/..., value/kernel (dv, heads,
value_dim), value/bias, attention_output/kernel (heads, value_dim, *out), attention_output/
bias (*out), so a Keras model's get_weights() fits set_weights(). It lowers onto existing
ops and the two of kcc/layers/attention.py: each projection is a Dense on the (T, d) rows
(its kernel read as (d, heads * key_dim): the same floats), the per-head products read each
head where it lies in those rows (no transposes), the scores are scaled by 1/sqrt(key_dim)
inside the softmax, Dropout drops probabilities in training, and the output projection is a
Dense on the (T, heads * value_dim) context.
"""
from math import prod, sqrt

from kcc import activations, initializers
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.layers.args import positive_int, unsupported, weight_rules, weight_rules_config
from kcc.layers.attention import _CALL, MaskedInputsRefused, attend, call_flags
from kcc.layers.dropout import check_rate


def _output_shape(name, output_shape):
    if output_shape is None:
        return None
    shape = (output_shape,) if isinstance(output_shape, int) else output_shape
    try:
        shape = tuple(positive_int("output_shape", d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"Layer {name} (MultiHeadAttention): invalid `output_shape`: "
                         f"{output_shape!r}. When specified, the `output_shape` should be of type "
                         "tuple, list, or int (of positive sizes).") from None
    return shape or None


class MultiHeadAttention(MaskedInputsRefused, Layer):
    _multi_input = True
    _call_arguments = _CALL

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        where = f"Layer {self.name} (MultiHeadAttention)"
        for arg, value, what in (("num_heads", num_heads, "a positive integer"),
                                 ("key_dim", key_dim, "a positive integer"),
                                 ("value_dim", value_dim, "a positive integer or `None`")):
            if value is None and arg == "value_dim":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{where}: received an invalid value for argument `{arg}`, "
                                 f"expected {what}. Received: {arg}={value}")
        unsupported(where, sliding_window=sliding_window, flash_attention=flash_attention or None,
                    use_gate=use_gate or None,
                    activity_regularizer=activity_regularizer)
        axes = (attention_axes,) if isinstance(attention_axes, int) else attention_axes
        if axes is not None and tuple(axes) not in ((1,), (-2,)):
            raise NotImplementedError(f"{where}: attention_axes={attention_axes!r} is not "
                                      "supported by kcc yet; kcc attends over the timesteps of "
                                      "(batch, T, features) inputs (attention_axes=None).")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.dropout = check_rate(where, "dropout", dropout)
        self.use_bias = bool(use_bias)
        self.output_shape_arg = _output_shape(self.name, output_shape)
        self.attention_axes = None if axes is None else tuple(axes)
        self.seed = seed
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        weight_rules(self, locals(), "kernel", "bias")
        self.activity_regularizer = None
        self._scores = False        # return_attention_scores of the call being made

    def __call__(self, query, value=None, key=None, query_mask=None, value_mask=None,
                 key_mask=None, attention_mask=None, return_attention_scores=False,
                 training=None, use_causal_mask=False):
        if isinstance(query, (list, tuple)) and value is None:   # a saved config's replay
            query, value, key = (list(query) + [None])[:3]
        if value is None:
            raise TypeError(f"Layer {self.name} (MultiHeadAttention) needs `value`: call it as "
                            "mha(query, value) (value as query for self-attention).")
        flags = call_flags(self, {"attention_mask": attention_mask, "query_mask": query_mask,
                                  "value_mask": value_mask, "key_mask": key_mask,
                                  "training": training, "use_causal_mask": use_causal_mask,
                                  "return_attention_scores": return_attention_scores})
        self._scores = flags.get("return_attention_scores", False)
        inputs = [query, value] + ([key] if key is not None else [])
        return super().__call__(inputs, **flags)

    def _check_shapes(self, input_shape):
        q, v = (tuple(s) for s in input_shape[:2])
        k = tuple(input_shape[2]) if len(input_shape) > 2 else v
        if any(len(s) != 3 or None in s[1:] for s in (q, v, k)):
            raise NotImplementedError(
                f"Layer {self.name} (MultiHeadAttention): kcc compiles MultiHeadAttention on "
                f"query, value and key of shape (batch, timesteps, features) with known sizes. "
                f"Received: query {q}, value {v}, key {k}")
        if v[1:-1] != k[1:-1]:
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be "
                             f"equal. Received: value_shape={v} and key_shape={k} (layer "
                             f"{self.name})")
        return q, v, k

    def build(self, input_shape):
        q, v, k = self._check_shapes(input_shape)
        heads, out = self.num_heads, self.output_shape_arg or (q[-1],)

        def dense(name, kernel, bias):
            w = self.add_weight(f"{name}/kernel", kernel, self.kernel_initializer,
                                regularizer=self.kernel_regularizer,
                                constraint=self.kernel_constraint)
            b = self.add_weight(f"{name}/bias", bias, self.bias_initializer,
                                regularizer=self.bias_regularizer,
                                constraint=self.bias_constraint) if self.use_bias else None
            return w, b

        self._query = dense("query", (q[-1], heads, self.key_dim), (heads, self.key_dim))
        self._key = dense("key", (k[-1], heads, self.key_dim), (heads, self.key_dim))
        self._value = dense("value", (v[-1], heads, self.value_dim), (heads, self.value_dim))
        self._output = dense("attention_output", (heads, self.value_dim) + out, out)
        # later calls: any timesteps, the features the projections were built for
        self.input_spec = [InputSpec(ndim=3, axes={-1: d}) for d in (q[-1], v[-1], k[-1])]

    def compute_output_shape(self, input_shape):
        q, v, _ = self._check_shapes(input_shape)
        out = (q[0], q[1]) + (self.output_shape_arg or (q[-1],))
        return [out, (q[0], self.num_heads, q[1], v[1])] if self._scores else out

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_shape_arg, "attention_axes": self.attention_axes,
                "seed": self.seed,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_rules_config(self, "kernel", "bias")}

    def lower(self, g, inputs):
        q_in, v_in = inputs[:2]
        k_in = inputs[2] if len(inputs) > 2 else v_in
        heads, flags = self.num_heads, g.call_arguments

        def project(name, x, weights, width):
            with g.sub_node(name):
                return g.op("dense", [x], (x.shape[0], heads * width), weights=list(weights),
                            attrs={"activation": activations.get(None), "units": heads * width})

        q = project("query", q_in, self._query, self.key_dim)
        k = project("key", k_in, self._key, self.key_dim)
        v = project("value", v_in, self._value, self.value_dim)
        context, p = attend(g, q, k, v, heads=heads, alpha=1.0 / sqrt(self.key_dim), scale=None,
                            causal=flags.get("use_causal_mask", False), rate=self.dropout,
                            seed=self.seed, scores_shape=(heads, q.shape[0], k.shape[0]),
                            context_node="context")
        out = self.output_shape_arg or (q_in.shape[-1],)
        y = g.op("dense", [context], (q.shape[0], prod(out)), weights=list(self._output),
                 attrs={"activation": activations.get(None), "units": prod(out)})
        if len(out) > 1:
            y = g.view(y, (q.shape[0],) + out)
        return [y, p] if flags.get("return_attention_scores") else [y]
