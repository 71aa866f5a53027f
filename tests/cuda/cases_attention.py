"""CUDA cases: attention (kcc/ops/attention.h: the strided per-head products a thread per
element, the causal softmax a thread per row, the scale's gradient summed by column_sum)."""
import numpy as np

from kcc import optimizers
from kcc.layers import (Attention, Dense, Flatten, Input, LayerNormalization, MultiHeadAttention,
                        add, concatenate)
from kcc.models import Model


def attention(rng):
    """A causal encoder block whose MHA drops probabilities (value_dim != key_dim) and returns
    its scores; an Attention with a trained scale whose query and key are one tensor (its
    product's two gradients sum into one). SGD, not Adam:
    the key projection's bias has a zero gradient (a constant per softmax row), rounding
    noise that Adam's first step would blow up to the learning rate."""
    x = Input(shape=(6, 8))
    a, s = MultiHeadAttention(2, 4, value_dim=3, dropout=0.25, seed=2)(
        x, x, use_causal_mask=True, return_attention_scores=True)
    h = LayerNormalization()(add([x, a]))
    h = LayerNormalization()(add([h, Dense(8)(Dense(16, activation="gelu")(h))]))
    q = Dense(5)(x)
    b = Attention(use_scale=True)([q, Dense(3)(x), q])
    flat = concatenate([Flatten()(h), Flatten()(s), Flatten()(b)])
    y = Dense(3, activation="softmax")(flat)
    return dict(model=Model(x, y), x=[rng.standard_normal((5, 6, 8)).astype(np.float32)],
                y=[np.eye(3, dtype=np.float32)[rng.integers(0, 3, 5)]],
                loss="categorical_crossentropy", optimizer=optimizers.SGD(0.1, momentum=0.9),
                metrics=["accuracy"])


CASES = {"attention": attention}
