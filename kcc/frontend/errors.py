"""Exceptions of the symbolic frontend."""


class MultipleNodesError(AssertionError, AttributeError):
    """A per-layer attribute (`output`, `input_shape`, ...) asked of a layer called several times.

    The guide shows an AssertionError (Keras 1); Keras 2/3 raise AttributeError. This is both,
    so code written against either version catches it.
    """
