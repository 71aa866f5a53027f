"""Saving and loading model state (weights as safetensors)."""
from kcc.saving.weights_file import load_weights, save_weights

__all__ = ["save_weights", "load_weights"]
