"""compile / fit / evaluate / predict for functional models (filled in by kcc.training)."""


class Trainer:
    """Mixin that gives Model its Keras training API; see kcc/training/engine.py."""
