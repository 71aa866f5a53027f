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


__all__ = ["clear_session", "epsilon", "floatx", "image_data_format", "set_image_data_format"]
