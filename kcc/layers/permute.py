"""Permute: reorders the non-batch axes, as Keras's `Permute(dims)` (dims 1-based).

It lowers onto the transpose op. The permutation is first simplified: axes of size 1 are
dropped and axes that stay neighbours, in order, are merged. What is left is the identity
(a view, no copy), a swap of two blocks (the (R, S) transpose Flatten(channels_first) uses),
or a general permutation of 3+ axes (the transpose op's `perm` form)."""
from kcc.frontend.layer import Layer


def simplify(shape, perm):
    """(shape, perm) -> the same reordering over fewer, bigger axes: (dims, perm) where
    output axis k is input axis perm[k], no axis is 1 and no two neighbours merge."""
    keep = [a for a in range(len(shape)) if shape[a] != 1]
    perm = [keep.index(a) for a in perm if a in keep]
    shape = [shape[a] for a in keep]
    groups = []                       # runs of input axes that stay together, output order
    for a in perm:
        if groups and groups[-1][-1] + 1 == a:
            groups[-1].append(a)
        else:
            groups.append([a])
    order = sorted(range(len(groups)), key=lambda k: groups[k][0])   # groups in input order
    dims = []
    for k in order:
        size = 1
        for a in groups[k]:
            size *= shape[a]
        dims.append(size)
    return tuple(dims), tuple(order.index(k) for k in range(len(groups)))


def _strides(dims):
    out, s = [], 1
    for d in reversed(dims):
        out.insert(0, s)
        s *= d
    return out


def gather_terms(dims, perm):
    """The forward's and the backward's index maps for transpose.*.j2: for each destination
    axis, [divisor, extent, source stride], so that the source offset of destination
    element j (within a sample) is sum(j / divisor % extent * stride)."""
    out = [dims[a] for a in perm]
    istr, ostr = _strides(dims), _strides(out)
    inverse = [perm.index(a) for a in range(len(dims))]
    forward = [[ostr[k], out[k], istr[perm[k]]] for k in range(len(out))]
    backward = [[istr[a], dims[a], ostr[inverse[a]]] for a in range(len(dims))]
    return forward, backward


class Permute(Layer):
    """(batch, d1, ..., dk) -> (batch, d_dims[0], ..., d_dims[k-1]); `dims` is a permutation
    of 1..k (the batch axis stays first)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            self.dims = tuple(int(d) for d in dims)
            bad = any(isinstance(d, bool) or int(d) != d for d in dims)
        except (TypeError, ValueError):
            bad = True
        if bad or sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Layer {self.name} (Permute): invalid value for `dims`, expected a "
                             f"permutation of 1..k over the non-batch axes, e.g. (2, 1). "
                             f"Received: dims={dims!r}")

    def _check_num_inputs(self, tensors):
        super()._check_num_inputs(tensors)
        rank = len(tensors[0].shape) - 1
        if rank != len(self.dims):
            raise ValueError(f"Layer {self.name} (Permute, dims={self.dims}) permutes "
                             f"{len(self.dims)} non-batch axes, but its input "
                             f"{tensors[0].name} of shape {tensors[0].shape} has {rank}. "
                             f"Give dims as a permutation of 1..{rank}.")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}

    def lower(self, g, inputs):
        (x,) = inputs
        out = tuple(x.shape[d - 1] for d in self.dims)
        dims, perm = simplify(x.shape, [d - 1 for d in self.dims])
        if perm == tuple(range(len(perm))):
            return [g.view(x, out)]                   # nothing moves
        if len(dims) == 2:
            return [g.op("transpose", [x], out, attrs={"rows": dims[0], "cols": dims[1]})]
        forward, backward = gather_terms(dims, perm)
        return [g.op("transpose", [x], out, attrs={"dims": list(dims), "perm": list(perm),
                                                   "forward": forward, "backward": backward})]
