"""kcc.models: `from kcc.models import Model, Sequential`."""
from kcc.frontend.functional import Model
from kcc.frontend.sequential import Sequential

__all__ = ["Model", "Sequential"]
