"""Argument helpers shared by layers: Keras 1 aliases and Keras-style validation errors."""
import numbers


def legacy(new_name, new_value, old_name, old_value, default=None):
    """The value of an argument that Keras 1 spelled differently (units / output_dim)."""
    if new_value is not None and old_value is not None:
        raise TypeError(f"Pass either `{new_name}` or its Keras 1 name `{old_name}`, not both.")
    if new_value is not None:
        return new_value
    return old_value if old_value is not None else default


KERAS_DEFAULT = type("KerasDefault", (), {"__repr__": lambda self: "<Keras default>"})()


def legacy_flag(new_name, new_value, old_name, old_value, default):
    """A boolean argument that Keras 1 spelled differently (use_bias / bias), read for its
    truth as Keras reads it (use_bias=None or 0: no bias). `new_value` is KERAS_DEFAULT
    when not given."""
    if new_value is not KERAS_DEFAULT and old_value is not None:
        raise TypeError(f"Pass either `{new_name}` or its Keras 1 name `{old_name}`, not both.")
    if new_value is not KERAS_DEFAULT:
        return bool(new_value)
    return bool(old_value) if old_value is not None else default


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"Received an invalid value for `{name}`, expected a positive "
                         f"integer. Received: {name}={value!r}")
    return int(value)


def unsupported(layer_class, **args):
    """Reject arguments kcc does not implement yet, rather than silently ignoring them."""
    given = sorted(f"{name}={value!r}" for name, value in args.items() if value is not None)
    if given:
        raise NotImplementedError(f"{layer_class}: argument(s) {', '.join(given)} are not "
                                  "supported by kcc yet; leave them out.")


# Keras 1 names of a weight's penalty and constraint arguments: W_regularizer, U_constraint, ...
_KERAS1_WEIGHT = {"kernel": "W", "embeddings": "W", "recurrent": "U", "bias": "b"}


def weight_rules(layer, given, *weights):
    """Set `layer.activity_regularizer` and, for each named weight, `<w>_regularizer` and
    `<w>_constraint` (kernel -> kernel_regularizer, kernel_constraint) from `given`, the
    arguments the layer's __init__ received (its locals()), under their Keras 3 names or
    Keras 1's (W_regularizer, U_regularizer, b_constraint, ...). Each is one kcc compiles,
    or an error naming the layer and the argument. Call it once the layer has its name."""
    from kcc import constraints, regularizers
    layer.activity_regularizer = regularizers.for_layer(given.get("activity_regularizer"),
                                                        layer.name, "activity_regularizer")
    for kind, module in (("regularizer", regularizers), ("constraint", constraints)):
        for w in weights:
            name = f"{w}_{kind}"
            old = f"{_KERAS1_WEIGHT[w]}_{kind}" if w in _KERAS1_WEIGHT else None  # gamma: none
            value = legacy(name, given.get(name), old, given.get(old) if old else None)
            setattr(layer, name, module.for_layer(value, layer.name, name))


def weight_rules_config(layer, *weights):
    """Keras's config entries for the regularizer and constraint of each named weight
    ('kernel' -> kernel_regularizer, kernel_constraint), serialized as Keras 3 does."""
    from kcc import constraints, regularizers
    config = {f"{w}_regularizer": regularizers.serialize(getattr(layer, f"{w}_regularizer"))
              for w in weights}
    config.update({f"{w}_constraint": constraints.serialize(getattr(layer, f"{w}_constraint"))
                   for w in weights})
    return config
