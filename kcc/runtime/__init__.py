"""The compiled model: build and load the native unit, check data, run it."""
