"""Variable: one weight of a layer, in one 64-byte aligned float32 buffer.

The buffer is the single source of truth: compiled native code reads and updates it through
its pointer, so it is created once and never replaced. Everything that changes the value
(assign, set_weights) copies into it in place.
"""
import numpy as np

ALIGNMENT = 64   # bytes: a cache line, and enough for any AVX-512 load


def aligned_empty(shape, dtype=np.float32, alignment=ALIGNMENT):
    """An uninitialised C-contiguous array whose data pointer is a multiple of `alignment`."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + alignment, dtype=np.uint8)   # the view below keeps `raw` alive
    offset = (-raw.ctypes.data) % alignment
    return raw[offset:offset + nbytes].view(dtype).reshape(shape)


# Counts writes to weight buffers from the host (assign, set_weights, load_weights, a
# device backend copying trained values back). A device backend compares it with the
# value at its last sync to know whether its device copy is stale: one global counter,
# because layers are shared between models and one write can touch any of them.
_host_generation = 0


def host_generation() -> int:
    return _host_generation


def bump_host_generation() -> int:
    """Record a host-side write to some weight buffer; returns the new generation."""
    global _host_generation
    _host_generation += 1
    return _host_generation


class Variable:
    dtype = "float32"

    def __init__(self, layer, name, shape, initializer, trainable=True):
        from kcc import initializers  # deferred: initializers imports kcc.utils, not the frontend
        self.layer = layer
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self._trainable = bool(trainable)
        self.initializer = initializers.get(initializer)
        self.regularizer = None     # kcc.regularizers L1L2 family: a penalty in the training loss
        self.constraint = None      # kcc.constraints: a projection after each optimizer update
        self.value = aligned_empty(self.shape)
        self.assign(self.initializer(self.shape, dtype="float32"))

    @property
    def path(self):
        """'dense_1/kernel'; follows the layer's name if it is renamed."""
        return f"{self.layer.name}/{self.name}"

    @property
    def trainable(self):
        """Trainable when the weight is and its layer is (`layer.trainable = False` freezes it)."""
        return self._trainable and self.layer.trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)

    @property
    def size(self):
        return self.value.size

    @property
    def data_ptr(self):
        """Address of the buffer, for native code; stable for the life of the Variable."""
        return self.value.ctypes.data

    def check_value(self, array):
        """`array` as float32 of this weight's shape, or a ValueError naming layer and weight."""
        src = np.asarray(array)
        if src.shape != self.shape:
            raise ValueError(f"Layer '{self.layer.name}' weight '{self.name}' expects shape "
                             f"{self.shape}, received {src.shape}")
        if not (np.issubdtype(src.dtype, np.number) or src.dtype == np.bool_):
            raise ValueError(f"Layer '{self.layer.name}' weight '{self.name}' expects a numeric "
                             f"array, received dtype {src.dtype}")
        return src

    def assign(self, array):
        """Copy `array` into the buffer in place (the data pointer never changes)."""
        np.copyto(self.value, self.check_value(array), casting="unsafe")
        bump_host_generation()

    def numpy(self):
        return self.value.copy()

    def __array__(self, dtype=None, copy=None):
        return self.value.copy() if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype=float32>"


def assign_all(variables, arrays, owner, hint=""):
    """set_weights for a list of Variables: check count and every shape, then copy in place.

    Nothing is written unless every array fits, so a failed call leaves the weights as they were.
    """
    if isinstance(arrays, np.ndarray) or not hasattr(arrays, "__iter__"):
        raise TypeError(f"{owner}: set_weights expects a list of {len(variables)} arrays (as "
                        f"get_weights returns); received {type(arrays).__name__}")
    arrays = list(arrays)
    if len(arrays) != len(variables):
        names = ", ".join(v.path for v in variables) or "none"
        raise ValueError(f"{owner} expects {len(variables)} weight arrays ({names}), but "
                         f"set_weights received {len(arrays)}.{hint}")
    checked = [v.check_value(a) for v, a in zip(variables, arrays)]
    for v, a in zip(variables, checked):
        np.copyto(v.value, a, casting="unsafe")
    bump_host_generation()
