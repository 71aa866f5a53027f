"""kcc: the Keras functional API, compiled ahead of time.

`import kcc as keras` reads like Keras: keras.layers, keras.models, keras.utils, ...
"""
from kcc import activations, backend, initializers, layers, models, utils
