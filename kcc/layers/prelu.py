"""PReLU: relu(x) - alpha relu(-x), alpha a trainable weight shaped as the input without its
batch axis, with size 1 along `shared_axes` (Keras 3's keras/src/layers/activations/prelu.py).

The op sees a sample as runs of axes, each all shared or all not (kcc/templates/layers/
prelu.*.j2 turn them into index arithmetic): an element's alpha is found from its index, and
alpha's gradient sums, for each alpha element, over the batch and the shared positions in a
fixed order."""
import numbers
from math import prod

from kcc import initializers
from kcc.frontend.input_spec import InputSpec
from kcc.frontend.layer import Layer
from kcc.layers.args import weight_rules, weight_rules_config


def runs(sample_shape, shared):
    """The sample's axes grouped into runs of consecutive axes all shared or all not: a list
    of dicts with the run's size, whether alpha is shared along it, `inner` (the elements per
    step along it) and `stride` (alpha's stride along it, or for a shared run the stride among
    the shared positions of one alpha element)."""
    groups = []
    for k, d in enumerate(sample_shape, start=1):
        flag = k in shared
        if groups and groups[-1]["shared"] == flag:
            groups[-1]["size"] *= d
        else:
            groups.append({"size": d, "shared": flag})
    inner = {True: 1, False: 1}
    total = 1
    for run in reversed(groups):
        run["inner"], run["stride"] = total, inner[run["shared"]]
        total *= run["size"]
        inner[run["shared"]] *= run["size"]
    return groups


class PReLU(Layer):
    supports_masking = True     # as Keras 3: the mask passes through

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, activity_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        weight_rules(self, locals(), "alpha")
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes):
                raise TypeError(f"Layer {self.name} (PReLU): `shared_axes` takes an int or a "
                                f"list of ints. Received: shared_axes={shared_axes!r}")
            self.shared_axes = [int(a) for a in axes]
        self.alpha = None

    def build(self, input_shape):
        rank = len(input_shape)
        for a in self.shared_axes or []:
            if not 1 <= a < rank:
                raise ValueError(f"Layer {self.name} (PReLU): shared_axes counts the input's "
                                 f"axes from 1 (the first after the batch) to {rank - 1}, for "
                                 f"an input of shape {tuple(input_shape)}. "
                                 f"Received: shared_axes={self.shared_axes}")
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"Layer {self.name} (PReLU) needs every axis but the batch known; "
                             f"received an input of shape {tuple(input_shape)}.")
        shape = [1 if k in (self.shared_axes or []) else d
                 for k, d in enumerate(input_shape[1:], start=1)]
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        axes = {k: input_shape[k] for k in range(1, rank) if k not in (self.shared_axes or [])}
        self.input_spec = InputSpec(ndim=rank, axes=axes)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                **weight_rules_config(self, "alpha"), "shared_axes": self.shared_axes}

    def lower(self, g, inputs):
        (x,) = inputs
        sample = tuple(x.shape)            # a value's shape leaves out the batch
        return [g.op("prelu", [x], x.shape, weights=[self.alpha],
                     attrs={"size": prod(sample), "alphas": prod(self.alpha.shape),
                            "runs": runs(sample, set(self.shared_axes or []))})]
