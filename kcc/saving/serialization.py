"""Layers as plain data: {"class_name": ..., "config": {...}}, as Keras writes them.

Loading runs no code from the file: a class name is looked up in a fixed table of kcc's own
layer classes (every Layer class `kcc.layers` exports, plus Model and Sequential), never
imported by name, and its `from_config` gets the config dict. Anything else is refused
with the name of the layer and the classes kcc knows.
"""
import json

from kcc.frontend.layer import Layer

_ALIASES = {"Functional": "Model"}      # Keras 3's class name of a functional model


class ConfigError(ValueError):
    """A model config kcc cannot rebuild (unknown layer class, malformed entry)."""


def layer_classes():
    """{class name: class} of every layer kcc can rebuild from a config."""
    from kcc import layers
    from kcc.frontend.functional import Model
    from kcc.frontend.sequential import Sequential
    classes = {}
    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            classes[obj.__name__] = obj
    classes["Model"], classes["Sequential"] = Model, Sequential
    return classes


def serialize_layer(layer):
    """{"class_name", "config"} of a layer; a ConfigError if kcc could not rebuild it."""
    _check_known(layer)
    config = layer.get_config()
    _check_plain(config, f"layer '{layer.name}' ({type(layer).__name__})")
    return {"class_name": type(layer).__name__, "config": config}


def _check_known(layer):
    cls = type(layer)
    if layer_classes().get(cls.__name__) is not cls:
        raise ConfigError(f"Layer '{layer.name}' is of class {cls.__module__}.{cls.__name__}, "
                          "which kcc cannot save: a saved model names only kcc's own layer "
                          f"classes ({', '.join(sorted(layer_classes()))}), so that loading it "
                          "runs no code. Build the model from those, or use save_weights().")
    inner = getattr(layer, "layer", None)       # a wrapper writes its layer in its config
    if isinstance(inner, Layer):
        _check_known(inner)


def deserialize_layer(entry, where="the model config"):
    """A new layer from {"class_name", "config"}; a ConfigError naming it if that fails."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ConfigError(f"{where}: expected a layer entry {{'class_name': str, 'config': "
                          f"dict}}, found {_short(entry)}.")
    class_name, config = entry["class_name"], entry["config"]
    name = config.get("name", "?")
    classes = layer_classes()
    cls = classes.get(_ALIASES.get(class_name, class_name))
    if cls is None:
        raise ConfigError(f"{where}: unknown layer class '{class_name}' (layer '{name}'). "
                          f"kcc rebuilds only its own layer classes: {', '.join(sorted(classes))}.")
    try:
        return cls.from_config(dict(config))
    except ConfigError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, NotImplementedError) as exc:
        raise ConfigError(f"{where}: cannot rebuild layer '{name}' ({class_name}) from its "
                          f"config: {type(exc).__name__}: {exc}") from exc


def check_no_shared_nesting(model):
    """A layer with weights must sit in one place of the saved tree: a model's layers, or
    a wrapper's `layer`. One held in two (a model called in the outer model and also
    wrapped in TimeDistributed there, or a layer used inside a nested model and beside
    it) would come back as two layers with two sets of weights: refuse it at save."""
    from kcc.frontend.functional import Model
    places = {}

    def visit(layer, where):
        if not layer.weights:
            return
        if id(layer) in places:
            raise ConfigError(
                f"Cannot save model '{model.name}': layer '{layer.name}' is used both "
                f"{places[id(layer)]} and {where}. A saved model holds each layer once "
                "per place, so loading it would split the weights. Save the model by its "
                "weights (save_weights) and rebuild it in code, or use the layer in one place.")
        places[id(layer)] = where
        if isinstance(layer, Model):
            for inner in layer._layers:
                visit(inner, f"inside model '{layer.name}'")
        inner = getattr(layer, "layer", None)
        if isinstance(inner, Layer):
            visit(inner, f"wrapped in '{layer.name}'")

    for layer in model._layers:
        visit(layer, f"in model '{model.name}'")


def _check_plain(value, where):
    """Configs must be JSON data; a custom initializer function, say, is not."""
    if isinstance(value, dict):
        if value.get("class_name") == "_Function":
            raise ConfigError(f"Cannot save {where}: it uses a custom initializer function, "
                              "which a saved model cannot hold (loading runs no code). Use a "
                              "named initializer (kcc.initializers), or use save_weights().")
        for v in value.values():
            _check_plain(v, where)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_plain(v, where)
    elif not (value is None or isinstance(value, (str, bool, int, float))):
        raise ConfigError(f"Cannot save {where}: its config holds {value!r} "
                          f"({type(value).__name__}), which is not JSON data.")


def _short(value, limit=80):
    text = json.dumps(value, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
