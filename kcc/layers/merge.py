"""The merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot.

Each is called on a list of tensors and checks their shapes at call time, with Keras's
messages plus the layer's name. The Keras 1 `merge(mode=...)` and the Keras 2/3 functions
(`concatenate`, `add`, ...) are in merge_functions.py.
"""
from math import prod

from kcc.frontend.layer import Layer
from kcc.frontend.mask import either, refuse


def _operands(g, inputs):
    """Distinct input storages, and for each operand (in call order) the index of its own.

    The memory plan decides once per (op, storage) whether a backward overwrites or adds
    to a gradient, so an op must list a storage once: `concatenate([a, a])` (or `a` and a
    view of it) lowers to inputs [a] and operands [0, 0], and its template sums both
    operands' gradients into dx0."""
    unique, roots, slots = [], [], []
    for v in inputs:
        root = g.graph.root(v.name)
        if root not in roots:
            roots.append(root)
            unique.append(v)
        slots.append(roots.index(root))
    return unique, slots


def check_not_layers(inputs, where):
    """A merge takes tensors. The guide's residual block passes `Convolution2D(...)` itself,
    a layer never called: say so, and how to fix it, instead of failing somewhere deeper."""
    if not isinstance(inputs, (list, tuple)):
        return
    for i, t in enumerate(inputs):
        if isinstance(t, Layer):
            kind = type(t).__name__
            raise TypeError(f"{where} received a layer ({t.name}), not a tensor, as input {i}: "
                            f"call the layer on a tensor first, e.g. y = {kind}(...)(x), then "
                            f"merge the tensors it returns.")


def _batch(shapes):
    return next((s[0] for s in shapes if s[0] is not None), None)


class _Merge(Layer):
    _multi_input = True
    _exact_inputs = None        # Subtract and Dot take exactly 2

    def __call__(self, inputs, **kwargs):
        kind = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"A merge layer should be called on a list of inputs. Layer "
                             f"{self.name} ({kind}) received: {inputs!r}")
        check_not_layers(inputs, f"Layer {self.name} ({kind})")
        return super().__call__(inputs, **kwargs)

    def _check_num_inputs(self, tensors):
        want = self._exact_inputs
        if want is not None and len(tensors) != want:
            raise ValueError(f"A `{type(self).__name__}` layer should be called on exactly "
                             f"{want} inputs. Layer {self.name} received {len(tensors)} inputs.")

    def compute_output_dtype(self, input_dtype):
        return "float32"


class _ElementWise(_Merge):
    mode = None                 # template mode: sum, sub, mul, ave, max, min
    supports_masking = True

    def compute_mask(self, inputs, previous_mask):
        return either(previous_mask)    # Keras's Merge.compute_mask: the OR, None if any has none

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if any(s[1:] != shapes[0][1:] for s in shapes):
            raise ValueError(f"Inputs have incompatible shapes. Layer {self.name} "
                             f"({type(self).__name__}) needs inputs of the same shape (kcc does "
                             f"not broadcast); received shapes {shapes}.")
        return (_batch(shapes),) + shapes[0][1:]

    def lower(self, g, inputs):
        unique, slots = _operands(g, inputs)
        return [g.op("elementwise", unique, inputs[0].shape,
                     attrs={"mode": self.mode, "operands": slots})]


class Add(_ElementWise):
    mode = "sum"


class Subtract(_ElementWise):
    mode = "sub"
    _exact_inputs = 2


class Multiply(_ElementWise):
    mode = "mul"


class Average(_ElementWise):
    mode = "ave"


class Maximum(_ElementWise):
    """Gradient tie rule: it goes to the first input holding the maximum."""
    mode = "max"


class Minimum(_ElementWise):
    """Gradient tie rule: it goes to the first input holding the minimum."""
    mode = "min"


class Concatenate(_Merge):
    supports_masking = True

    def compute_mask(self, inputs, previous_mask):
        """Keras's Concatenate.compute_mask: an input without a mask counts as all kept, and
        a step is kept when any input keeps it (so one unmasked input keeps every step)."""
        if all(m is None for m in previous_mask):
            return None
        if self._axis([t.shape for t in inputs]) != len(inputs[0].shape) - 1:
            refuse(self, f"concatenated along axis {self.axis}, not the features")
        return either(previous_mask)
    def __init__(self, axis=-1, **kwargs):
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError("Received an invalid value for `axis`, expected an integer. "
                             f"Received: axis={axis!r}")
        super().__init__(**kwargs)
        self.axis = axis

    def _axis(self, shapes):
        """The concat axis as a non-negative index into the full shapes (batch is 0)."""
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ValueError(f"A `Concatenate` layer requires inputs of the same rank. Layer "
                             f"{self.name} received: input_shape={shapes}")
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"Layer {self.name} (Concatenate) cannot concatenate on axis "
                             f"{self.axis} of inputs of rank {rank}: the axis must be one of the "
                             f"non-batch axes 1..{rank - 1} (or -1..{1 - rank}). "
                             f"Received: input_shape={shapes}")
        return axis

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        axis = self._axis(shapes)
        rest = [s[1:axis] + s[axis + 1:] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise ValueError(f"A `Concatenate` layer requires inputs with matching shapes "
                             f"except for the concatenation axis. Layer {self.name} "
                             f"(axis={self.axis}) received: input_shape={shapes}")
        out = list(shapes[0])
        out[0] = _batch(shapes)
        out[axis] = sum(s[axis] for s in shapes)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

    def lower(self, g, inputs):
        # Each input is copied into its slice of the output. (A later pass may let the
        # producers write straight into those slices of one buffer; see concat.cpp.j2.)
        a = self._axis([(None,) + tuple(v.shape) for v in inputs]) - 1   # per-sample axis
        shape = inputs[0].shape
        inner = prod(shape[a + 1:])
        unique, slots = _operands(g, inputs)
        out = list(shape)
        out[a] = sum(v.shape[a] for v in inputs)
        return [g.op("concat", unique, tuple(out),
                     attrs={"axis": a, "outer": prod(shape[:a]), "operands": slots,
                            "widths": [v.shape[a] * inner for v in inputs]})]


def _dot_axes(axes):
    if isinstance(axes, (list, tuple)):
        if len(axes) != 2 or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise ValueError("Received an invalid value for `axes`, expected an integer or a "
                             f"list of 2 integers. Received: axes={axes!r}")
        return tuple(axes)
    if isinstance(axes, bool) or not isinstance(axes, int):
        raise ValueError("Received an invalid value for `axes`, expected an integer or a list "
                         f"of 2 integers. Received: axes={axes!r}")
    return (axes, axes)


class Dot(_Merge):
    supports_masking = True     # Keras: it takes masked inputs, its output has no mask

    def compute_mask(self, inputs, previous_mask):
        return None

    """Dot product of two (None, D) inputs over axis 1 -> (None, 1). (Higher ranks, other
    axes and normalize=True are not compiled by kcc yet.)"""
    _exact_inputs = 2

    def __init__(self, axes=None, normalize=False, **kwargs):
        if axes is None:
            raise TypeError("Dot needs `axes`, the axis (or pair of axes) to sum over, "
                            "e.g. Dot(axes=1).")
        self.axes = _dot_axes(axes)
        super().__init__(**kwargs)
        if normalize:
            raise NotImplementedError(f"Layer {self.name} (Dot): normalize=True (cosine "
                                      "proximity) is not supported by kcc yet.")
        self.normalize = False

    def compute_output_shape(self, input_shape):
        s1, s2 = (tuple(s) for s in input_shape)
        if len(s1) != 2 or len(s2) != 2 or any(a not in (1, -1) for a in self.axes):
            raise NotImplementedError(
                f"Layer {self.name} (Dot): kcc compiles Dot on two inputs of shape (None, D) "
                f"with axes=1 only, for now. Received: input shapes {s1}, {s2} and "
                f"axes={self.axes}")
        if s1[1] != s2[1]:
            raise ValueError(f"Incompatible input shapes: axis values {s1[1]} (at axis 1) != "
                             f"{s2[1]} (at axis 1). Layer {self.name} (Dot) full input shapes: "
                             f"{s1}, {s2}")
        return (_batch([s1, s2]), 1)

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}

    def lower(self, g, inputs):
        unique, slots = _operands(g, inputs)
        return [g.op("dot", unique, (1,), attrs={"operands": slots, "size": inputs[0].shape[0]})]
