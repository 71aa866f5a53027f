"""Attention: Luong-style dot-product attention as Keras 3's `Attention` layer, and the
lowering MultiHeadAttention shares with it.

Called on [query, value] or [query, value, key] (key defaults to value), each of shape
(batch, T, dim): scores = query key^T (times the weight `scale` with use_scale=True),
probabilities = softmax over the keys (under a causal mask with use_causal_mask=True),
dropout on them in training, output = probabilities value. It lowers onto two new ops
(kcc/ops/attention.h): `matmul`, a batch of strided products that reads each head where
it lies, and `attention_softmax`, the scaled, optionally causal row softmax; Dropout is the
dropout op. score_mode='concat' and masks are refused by name.
"""
from kcc.frontend.layer import Layer
from kcc.frontend.mask import refuse
from kcc.layers.dropout import check_rate, lower_dropout
from kcc.layers.merge import _operands

_CALL = ("training", "mask", "return_attention_scores", "use_causal_mask")


def call_flags(layer, kwargs):
    """Keep only the call keywords that change the graph, so a node's arguments (and a
    saved config) hold what was asked; refuse masks by name."""
    for name in ("mask", "attention_mask", "query_mask", "value_mask", "key_mask"):
        if kwargs.pop(name, None) is not None:
            raise NotImplementedError(f"Layer {layer.name} ({type(layer).__name__}): `{name}` is "
                                      "not supported by kcc yet (kcc has no masks); leave it out "
                                      "or use use_causal_mask=True for a causal mask.")
    return {k: bool(v) if k != "training" else v for k, v in kwargs.items()
            if v is not None and v is not False}


def _heads(heads, width):
    """Layout [group, row, col] of head g's (T, width) slice of a (T, heads * width) tensor."""
    return [width, heads * width, 1]


def _heads_t(heads, width):
    """The layout of the transpose of each head's slice: (width, T)."""
    return [width, 1, heads * width]


def matmul(g, a, la, b, lb, lc, groups, m, n, k, shape):
    """The matmul op: per sample, `groups` products (m x k)(k x n) through the layouts."""
    unique, slots = _operands(g, [a, b])
    return g.op("matmul", unique, shape, attrs={"operands": slots, "groups": groups, "m": m,
                                                "n": n, "k": k, "la": la, "lb": lb, "lc": lc})


def attend(g, q, k, v, *, heads, alpha, scale, causal, rate, seed, scores_shape,
           context_node=None):
    """q (Tq, heads * dk), k (Tk, heads * dk), v (Tk, heads * dv) -> the context
    (Tq, heads * dv), each head's softmax(alpha scale q k^T) v, and the probabilities (before
    dropout: what return_attention_scores gives). `context_node` names the context's op as
    a sub node of the layer's (None: the layer's own name)."""
    tq, tk = q.shape[0], k.shape[0]
    dk, dv = q.shape[-1] // heads, v.shape[-1] // heads
    with g.sub_node("scores"):
        s = matmul(g, q, _heads(heads, dk), k, _heads_t(heads, dk),
                   [tq * tk, tk, 1], heads, tq, tk, dk, scores_shape)
    with g.sub_node("softmax"):
        p = g.op("attention_softmax", [s], scores_shape, weights=[scale],
                 attrs={"alpha": float(alpha), "causal": bool(causal), "tq": tq, "length": tk,
                        "rows": heads * tq})
    dropped = p
    if rate > 0:
        with g.sub_node("dropout"):
            dropped = lower_dropout(g, p, rate, seed)
    args = (g, dropped, [tq * tk, tk, 1], v, _heads(heads, dv), _heads(heads, dv), heads, tq, dv,
            tk, (tq, heads * dv))
    if context_node is None:
        return matmul(*args), p
    with g.sub_node(context_node):
        return matmul(*args), p


class MaskedInputsRefused:
    """Keras 3 builds the attention mask from the inputs' Keras masks (the query's, value's
    and key's: Embedding(mask_zero=True), Masking); kcc does not compile that yet, so a
    masked input is refused by name rather than dropped with the warning of a layer that
    does not read masks."""

    supports_masking = True
    _uses_mask = True

    def _propagate_mask(self, inputs, outputs, masks):
        if any(m is not None for m in masks):
            refuse(self, "to mask the attention scores")


class Attention(MaskedInputsRefused, Layer):
    _multi_input = True
    _call_arguments = _CALL

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of "
                             f"{{'dot', 'concat'}}. Received: score_mode={score_mode}")
        if score_mode == "concat":
            raise NotImplementedError(f"Layer {self.name} (Attention): score_mode='concat' is not "
                                      "supported by kcc yet; use score_mode='dot'.")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = check_rate(f"Layer {self.name} (Attention)", "dropout", dropout)
        self.seed = seed
        self.scale = None
        self._scores = False        # return_attention_scores of the call being made

    def __call__(self, inputs, mask=None, training=None, return_attention_scores=False,
                 use_causal_mask=False):
        kind = type(self).__name__
        if not isinstance(inputs, list):
            raise ValueError(f"{kind} layer must be called on a list of inputs, namely [query, "
                             f"value] or [query, value, key]. Received: inputs={inputs}.")
        if not 2 <= len(inputs) <= 3:
            raise ValueError(f"{kind} layer accepts inputs list of length 2 or 3, namely [query, "
                             f"value] or [query, value, key]. Received length: {len(inputs)}.")
        flags = call_flags(self, {"mask": mask, "training": training, "use_causal_mask":
                                  use_causal_mask,
                                  "return_attention_scores": return_attention_scores})
        self._scores = flags.get("return_attention_scores", False)
        return super().__call__(inputs, **flags)

    def build(self, input_shape):
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones")

    def compute_output_shape(self, input_shape):
        q, v = (tuple(s) for s in input_shape[:2])
        k = tuple(input_shape[2]) if len(input_shape) > 2 else v
        if any(len(s) != 3 or None in s[1:] for s in (q, v, k)):
            raise NotImplementedError(
                f"Layer {self.name} (Attention): kcc compiles Attention on query, value and key "
                f"of shape (batch, timesteps, dim) with known sizes. Received: query {q}, "
                f"value {v}, key {k}")
        if q[-1] != k[-1]:
            raise ValueError(f"Layer {self.name} (Attention, score_mode='dot'): the query and "
                             f"the key need the same last dimension. Received: query {q}, key {k}")
        if k[1] != v[1]:
            raise ValueError(f"Layer {self.name} (Attention): the key and the value need the same "
                             f"number of timesteps. Received: value {v}, key {k}")
        out = (q[0], q[1], v[-1])
        return [out, (q[0], q[1], v[1])] if self._scores else out

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale,
                "score_mode": self.score_mode, "dropout": self.dropout, "seed": self.seed}

    def lower(self, g, inputs):
        q, v = inputs[:2]
        k = inputs[2] if len(inputs) > 2 else v
        flags = g.call_arguments
        y, p = attend(g, q, k, v, heads=1, alpha=1.0, scale=self.scale,
                      causal=flags.get("use_causal_mask", False), rate=self.dropout,
                      seed=self.seed, scores_shape=(q.shape[0], k.shape[0]))
        return [y, p] if flags.get("return_attention_scores") else [y]
