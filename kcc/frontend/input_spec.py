"""InputSpec: what inputs a layer accepts, checked on every call.

A layer sets `self.input_spec` (in __init__ for rank rules, in build() for the sizes its
weights fix). This is how a built layer stays locked: a later call with an incompatible
shape is an error that names the layer, never new weights.
"""


class InputSpec:
    def __init__(self, dtype=None, shape=None, ndim=None, min_ndim=None, max_ndim=None,
                 axes=None):
        """`shape` includes the batch axis; None entries match anything. `axes` maps an axis
        (negative counts from the end) to the size it must have."""
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.min_ndim = min_ndim
        self.max_ndim = max_ndim
        self.axes = dict(axes or {})

    def expected_shape(self, received):
        """The shape this spec asks for, written like `received` (for error messages)."""
        if self.shape is not None:
            return self.shape
        if self.ndim is not None and self.ndim != len(received):
            want = [None] * self.ndim        # another rank: say only what the spec knows
        else:
            want = list(received)
        for axis, size in self.axes.items():
            if -len(want) <= axis < len(want):
                want[axis] = size
        return tuple(want)

    def __repr__(self):
        fields = {k: v for k, v in vars(self).items() if v not in (None, {})}
        return "InputSpec(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"


def check_input_specs(layer, specs, tensors):
    """Raise a ValueError if a tensor does not fit the layer's spec (one spec for all inputs,
    or one per input)."""
    if specs is None:
        return
    if not isinstance(specs, (list, tuple)):
        specs = [specs] * len(tensors)
    for i, (spec, t) in enumerate(zip(specs, tensors)):
        if spec is not None:
            problem = _mismatch(spec, t)
            if problem:
                call = len(layer._inbound_nodes)      # the node this call would have made
                where = f" in call {call + 1} (node {call})" if call else ""
                fixed = (f" The layer's weights were built by its first call (node 0) for "
                         f"input shape {layer._build_input_shape}; use a new layer for inputs "
                         "of another shape." if layer.built and layer.weights else "")
                raise ValueError(f"Input {i} of layer {layer.name}{where} is incompatible with "
                                 f"the layer: expected shape {spec.expected_shape(t.shape)}, "
                                 f"received shape {t.shape} ({problem}).{fixed}")


def _mismatch(spec, t):
    """A short description of why `t` does not fit `spec`, or None."""
    shape, ndim = t.shape, len(t.shape)
    if spec.dtype is not None and t.dtype != spec.dtype:
        return f"expected dtype {spec.dtype}, found {t.dtype}"
    if spec.ndim is not None and ndim != spec.ndim:
        return f"expected ndim={spec.ndim}, found ndim={ndim}"
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        return f"expected min_ndim={spec.min_ndim}, found ndim={ndim}"
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        return f"expected max_ndim={spec.max_ndim}, found ndim={ndim}"
    if spec.shape is not None:
        for axis, (want, got) in enumerate(zip(spec.shape, shape)):
            if want is not None and got is not None and want != got:
                return f"axis {axis} should be {want}, found {got}"
    for axis, want in spec.axes.items():
        if not -ndim <= axis < ndim:
            return f"axis {axis} does not exist"
        if want is not None and shape[axis] not in (None, want):
            return f"axis {axis} should be {want}, found {shape[axis]}"
    return None
