"""kcc.models: `from kcc.models import Model`."""
from kcc.frontend.functional import Model

__all__ = ["Model"]
