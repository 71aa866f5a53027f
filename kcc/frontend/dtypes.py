"""The two tensor dtypes kcc compiles: float32 activations and int32 ids."""
import numpy as np

VALID_DTYPES = ("float32", "int32")
_ALIASES = {"float": "float32", "int": "int32"}


def standardize_dtype(dtype, what="dtype"):
    """'float32' | 'int32' from a string, a numpy dtype/type or a Python type; else a clear error."""
    if dtype is None:
        return "float32"
    if dtype is float:
        return "float32"
    if dtype is int:
        return "int32"
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name in VALID_DTYPES:
        return name
    raise ValueError(f"Received an invalid value for `{what}`: {dtype!r}. "
                     f"kcc supports {', '.join(repr(d) for d in VALID_DTYPES)} "
                     f"(aliases 'float', 'int' and the matching numpy dtypes).")
