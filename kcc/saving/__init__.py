"""Saving and loading: weights (safetensors), architectures (JSON), whole models (one file)."""
from kcc.saving.model_file import (load_model, model_from_config, model_from_json,
                                   model_to_json, save_model)
from kcc.saving.serialization import ConfigError
from kcc.saving.weights_file import load_weights, save_weights

__all__ = ["ConfigError", "load_model", "load_weights", "model_from_config", "model_from_json",
           "model_to_json", "save_model", "save_weights"]
