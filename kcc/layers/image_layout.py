"""Image layout and window arithmetic shared by the image layers (conv, pooling).

Which axis is channels, most specific first (DESIGN.md, "Keras compatibility rules"):
1. an explicit `data_format` / `dim_ordering` ('th' = channels_first, 'tf' = channels_last);
2. the Keras 1 spelling (`Convolution2D`, or `border_mode`/`subsample`/`dim_ordering` given to
   any layer) means channels_first, as the guide's `(3, 256, 256)` shapes need;
3. the layout the input tensor carries (image layers set `tensor._kcc_layout` on outputs);
4. `kcc.backend.image_data_format()` (channels_last by default, as in Keras 3).
"""
import numbers

from kcc import backend

CHANNELS_FIRST = "channels_first"
CHANNELS_LAST = "channels_last"

_FORMATS = {
    "channels_first": CHANNELS_FIRST, "th": CHANNELS_FIRST,
    "channels_last": CHANNELS_LAST, "tf": CHANNELS_LAST,
}
_PADDINGS = ("valid", "same")


def _layout_of(tensors):
    """The layout carried by the input tensor(s), or None; several inputs must agree."""
    if tensors is None:
        return None
    if not isinstance(tensors, (list, tuple)):
        tensors = [tensors]
    layouts = {getattr(t, "_kcc_layout", None) for t in tensors} - {None}
    return layouts.pop() if len(layouts) == 1 else None


def normalize_data_format(value, layer_name):
    """'channels_first'|'channels_last' from a Keras 2/3 or Keras 1 spelling."""
    if isinstance(value, str) and value.lower() in _FORMATS:
        return _FORMATS[value.lower()]
    raise ValueError(f"Layer '{layer_name}': received an invalid value for `data_format`, "
                     "expected 'channels_last' or 'channels_first' (Keras 1: 'tf' or 'th'). "
                     f"Received: data_format={value!r}")


def resolve_data_format(layer_name, explicit, keras1_spelling, input_tensor):
    """The layout a layer uses: explicit > Keras 1 spelling > input tensor > global default."""
    if explicit is not None:
        return normalize_data_format(explicit, layer_name)
    if keras1_spelling:
        return CHANNELS_FIRST
    carried = _layout_of(input_tensor)
    if carried is not None:
        return carried
    return backend.image_data_format()


def set_layout(tensors, data_format):
    """Mark output tensor(s) with the layout they carry, for the next image layer to read."""
    if not isinstance(tensors, (list, tuple)):
        tensors = [tensors]
    for t in tensors:
        try:
            t._kcc_layout = data_format
        except AttributeError:      # a tensor type without a __dict__: nothing to carry
            pass
    return tensors


def normalize_padding(value, layer_name):
    """'valid' | 'same' (Keras 2/3 `padding`, Keras 1 `border_mode`)."""
    if isinstance(value, str) and value.lower() in _PADDINGS:
        return value.lower()
    raise ValueError(f"Layer '{layer_name}': received an invalid value for `padding`, "
                     f"expected 'valid' or 'same'. Received: padding={value!r}")


def normalize_tuple(value, n, name, layer_name):
    """An int or an n-sequence of positive ints -> tuple of n ints (Keras's helper)."""
    items = (value,) * n if isinstance(value, numbers.Integral) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    if (len(items) != n or any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
                               or v <= 0 for v in items)):
        raise ValueError(f"Layer '{layer_name}': the `{name}` argument must be a positive "
                         f"integer or a tuple of {n} positive integers. "
                         f"Received: {name}={value!r}")
    return tuple(int(v) for v in items)


def conv_output_length(length, kernel, padding, stride, dilation=1):
    """Output length of a window along one axis, as Keras computes it (None stays None)."""
    if length is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding == "same":
        out = length
    elif padding == "valid":
        out = length - span + 1
    else:
        raise ValueError(f"Expected padding 'valid' or 'same'. Received: {padding!r}")
    return (out + stride - 1) // stride


def same_padding(length, kernel, stride, dilation=1):
    """(before, after) padding Keras's 'same' applies: total split with the extra after."""
    out = conv_output_length(length, kernel, "same", stride, dilation)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - length, 0)
    return total // 2, total - total // 2
