"""What kcc.regularizers and kcc.constraints share: Keras's small configurable objects.

A KerasObject is made from its config (`from_config`), gives it back (`get_config`), and
equals another of its class with the same config. A Catalog is one module's kind of them
(regularizer, constraint): `get` makes one from None, a name, a class, an instance or a
config dict (Keras's serialized form), `serialize` writes Keras 3's form, and `for_layer`
reads a layer argument, refusing by the layer's and the argument's name what kcc does not
compile (a Python function, a class it does not know).
"""


class KerasObject:
    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__


class Catalog:
    """`kind` ('regularizer'), its base class, `names` (every name `get` reads -> what makes
    it: Keras's class names and lowercase names), the classes kcc `compiles`, and `hint`,
    what a refusal suggests instead."""

    def __init__(self, kind, base, names, compiles, hint):
        self.kind, self.base, self.names, self.compiles, self.hint = (kind, base, names,
                                                                      compiles, hint)

    def _from_name(self, name):
        make = self.names.get(name)
        if make is None:
            raise ValueError(f"Could not interpret {self.kind} identifier: {name!r}. Valid "
                             f"names are: {', '.join(sorted(self.names))}.")
        return make

    def get(self, identifier):
        """An object from None, a name, a class, an instance or a config dict
        ({'class_name': ..., 'config': {...}}). Any other callable is returned as it is: a
        layer given one refuses it (kcc cannot compile it)."""
        if identifier is None or isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            return self._from_name(identifier)()
        if isinstance(identifier, dict) and "class_name" in identifier:
            return self._from_name(identifier["class_name"])(**identifier.get("config", {}))
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if callable(identifier):
            return identifier
        raise ValueError(f"Could not interpret {self.kind} identifier: {identifier!r}")

    def serialize(self, obj):
        """Keras 3's form: {'module': 'keras.<kind>s', 'class_name': ..., 'config': ...}."""
        if obj is None:
            return None
        obj = self.get(obj)
        return {"module": f"keras.{self.kind}s", "class_name": type(obj).__name__,
                "config": obj.get_config(), "registered_name": None}

    def for_layer(self, identifier, layer, argument):
        """The object a layer argument names, or an error naming the layer and argument."""
        obj = self.get(identifier)
        if obj is not None and type(obj) not in self.compiles:   # a subclass may change the math
            name = type(obj).__name__
            what = (f"{obj!r} (a Python function)" if not isinstance(obj, self.base)
                    else name if self.names.get(name) is type(obj)
                    else f"{name} (a {self.base.__name__} subclass)")
            raise NotImplementedError(f"Layer {layer}: `{argument}` is {what}, which kcc does "
                                      f"not compile; it compiles {self.hint}.")
        return obj
