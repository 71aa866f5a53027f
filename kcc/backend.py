"""kcc.backend: the few global settings Keras code reads through `keras.backend` (K)."""
from kcc.utils.session import clear_session

_image_data_format = "channels_last"     # Keras 3's default


def floatx():
    return "float32"


def epsilon():
    return 1e-7


def image_data_format():
    """The layout image layers assume when nothing more specific says (see DESIGN.md)."""
    return _image_data_format


def set_image_data_format(data_format):
    global _image_data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("Expected `data_format` to be 'channels_last' or 'channels_first'. "
                         f"Received: {data_format!r}")
    _image_data_format = data_format


# Where models compile to when compile() is not given device=: "cpu", or "cuda" to run on
# GPU 0. KCC_DEVICE in the environment sets the starting value.
_device = None


def canonical_device(device) -> str:
    """'cpu' or 'cuda' from what a user may write: 'cpu', 'cuda', 'cuda:0', 'gpu', 'gpu:0'."""
    if isinstance(device, str):
        d = device.strip().lower()
        if d == "cpu":
            return "cpu"
        if d in ("cuda", "gpu", "cuda:0", "gpu:0", "/gpu:0"):
            return "cuda"
    raise ValueError(f"Invalid device {device!r}: expected 'cpu' or 'cuda' (also written 'cuda:0', "
                     f"'gpu'). kcc runs on one GPU, GPU 0")


def device() -> str:
    """The device models compile for by default ('cpu' unless set_device or KCC_DEVICE says)."""
    global _device
    if _device is None:
        import os
        env = os.environ.get("KCC_DEVICE", "").strip()
        try:
            _device = canonical_device(env) if env else "cpu"
        except ValueError as e:
            raise ValueError(f"KCC_DEVICE: {e}") from None
    return _device


def set_device(value):
    """Make `value` ('cpu' or 'cuda') the default device of compile() and predict()."""
    global _device
    _device = canonical_device(value)


__all__ = ["canonical_device", "clear_session", "device", "epsilon", "floatx", "image_data_format",
           "set_device", "set_image_data_format"]
