"""kcc.models: `from kcc.models import Model, Sequential, load_model, model_from_json`."""
from kcc.frontend.functional import Model
from kcc.frontend.sequential import Sequential
from kcc.saving.model_file import load_model, model_from_config, model_from_json, save_model

__all__ = ["Model", "Sequential", "load_model", "model_from_config", "model_from_json",
           "save_model"]
