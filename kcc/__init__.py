"""kcc: the Keras functional API, compiled ahead of time.

`import kcc as keras` reads like Keras: keras.layers, keras.models, keras.optimizers, ...
"""
__version__ = "0.1.0"

from kcc import (activations, backend, callbacks, constraints, initializers, layers,  # noqa: F401,E402
                 losses, metrics, models, optimizers, regularizers, utils)
