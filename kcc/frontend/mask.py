"""Keras masks: which timesteps of a sequence are real, flowing with the symbolic tensors.

A mask is a (batch, timesteps) boolean in Keras 3 (`tensor._keras_mask`). In kcc it is a
recipe, `Mask`, that says how to compute it from tensors of the graph; the consumer that
needs it (a recurrent layer) lowers it (GraphBuilder.mask_value) into a "mask" op whose
output holds 1.0 for a kept step and 0.0 for a masked one, (timesteps,) per sample:
  ("not_equal", x, v)      x != v element by element: Embedding(mask_zero=True)'s, x the ids
  ("any_not_equal", x, v)  any feature of the step != v: Masking(mask_value=v)'s
  ("or", m1, m2, ...)      the element-wise merges' (Keras's Merge.compute_mask: OR)
As in Keras 3's Layer.__call__: a layer that supports masking passes its input's mask on
(or computes its own with compute_mask); one that does not drops it, with Keras's warning.
"""
import warnings


class Mask:
    def __init__(self, kind, steps, tensor=None, value=0.0, parts=()):
        self.kind = kind            # "not_equal", "any_not_equal", "or"
        self.steps = steps          # the per-sample shape of the mask, (T,)
        self.tensor = tensor        # the KerasTensor it reads (not for "or")
        self.value = float(value)
        self.parts = tuple(parts)   # the masks an "or" combines

    def __repr__(self):
        return f"<Mask {self.kind} {self.steps}>"


def mask_of(tensor):
    return getattr(tensor, "_keras_mask", None)


def either(masks):
    """Keras's Merge.compute_mask: None when any input has none, else their OR."""
    if not masks or any(m is None for m in masks):
        return None
    if len(masks) == 1 or all(m is masks[0] for m in masks):
        return masks[0]
    if any(m.steps != masks[0].steps for m in masks):
        return None     # shapes differ: the merge itself refuses such inputs
    return Mask("or", masks[0].steps, parts=masks)


def warn_dropped(layer):
    """Keras 3's warning when a layer that does not support masking receives a mask."""
    warnings.warn(f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an input "
                  "with a mask attached to it. However, this layer does not support masking "
                  "and will therefore destroy the mask information. Downstream layers will "
                  "not see the mask.", stacklevel=3)


def refuse(layer, why):
    """A layer that would use the mask in a way kcc does not compile."""
    raise NotImplementedError(f"Layer {layer.name} ({type(layer).__name__}) received a mask "
                              f"(from Embedding(mask_zero=True) or Masking), which Keras would "
                              f"use {why}; kcc does not support that yet.")
