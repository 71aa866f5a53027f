"""Export a model as a standalone C library: a CMake project with the generated code.

    from kcc.export import export_model
    export_model(model, "out/digits", name="digits")   # then: cmake -S out/digits -B build

See kcc/export/project.py for the folder it writes and include/<name>.h there for the API.
"""
from kcc.export.project import export_model
from kcc.export.weights import write_weights

__all__ = ["export_model", "write_weights"]
