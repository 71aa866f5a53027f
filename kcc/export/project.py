"""export_model(model, directory, name=None): a self-contained CMake project per model.

The folder it writes (a second export replaces every file, and removes the files of the
previous export that it does not write again, listed in .kcc-export-files: another name's
header, library sources and weights, runtime headers the new model does not include):

    CMakeLists.txt              shared + static library, example, ctest, install + package config
    README.md                   what it is, how to build and use it
    include/<name>.h            the documented C API
    src/model.cpp               the generated predict unit: the code model.predict runs
    src/<name>.cpp              the C API over it (kcc/export/runtime.h does the work)
    src/kcc/...                 the runtime headers those include, copied from kcc
    <name>.safetensors          the weights, with the architecture's fingerprint
    example/main.c              the API from C, end to end
    test/parity_test.cpp        ctest: the library against kcc's outputs ...
    test/parity.safetensors     ... for inputs saved at export time
    cmake/<name>Config.cmake.in
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from kcc.codegen.env import environment
from kcc.export import parity, weights
from kcc.export.names import check_name, default_name
from kcc.export.source import PredictUnit, predict_unit, runtime_headers
from kcc.export.symbols import extern_c_functions, header_globals

# template under kcc/templates/export -> file in the export, "{name}" filled in
_FILES = {
    "api.h.j2": "include/{name}.h",
    "api.cpp.j2": "src/{name}.cpp",
    "CMakeLists.txt.j2": "CMakeLists.txt",
    "config.cmake.in.j2": "cmake/{name}Config.cmake.in",
    "main.c.j2": "example/main.c",
    "parity_test.cpp.j2": "test/parity_test.cpp",
    "README.md.j2": "README.md",
}


def export_model(model, directory, name: str | None = None) -> Path:
    """Write `model` as a C library project into `directory` (created if needed) and
    return its path. `name` (a C identifier, default: the model's name) prefixes the C
    API, the header, the libraries and the CMake package."""
    from kcc import __version__
    from kcc.runtime.native import include_dir

    name = check_name(name) if name is not None else default_name(model.name)
    unit = predict_unit(model)
    _check_float_outputs(model, unit)
    root = Path(os.fspath(directory)).resolve()
    if root.exists() and not root.is_dir():
        raise ValueError(f"Cannot export model '{model.name}' to '{root}': it is a file, "
                         f"expected a directory (it is created if it does not exist)")
    for sub in ("include", "src", "example", "test", "cmake"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    previous = _previous_files(root)

    written = ["src/model.cpp"]
    (root / "src" / "model.cpp").write_text(unit.source)
    inc = include_dir()
    headers = runtime_headers(unit.source, inc)
    for rel in headers:
        dst = root / "src" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(inc / rel, dst)
        written.append(f"src/{rel}")
    weights.write(unit.graph, unit.fingerprint, root / f"{name}.safetensors")
    parity.write(model, unit, root / "test" / "parity.safetensors")
    written += [f"{name}.safetensors", "test/parity.safetensors"]

    ctx = context(unit, name, __version__, header_globals(inc, headers))
    env = environment()
    for template, target in _FILES.items():
        text = env.get_template(f"export/{template}").render(**ctx)
        (root / target.format(name=name)).write_text(text)
        written.append(target.format(name=name))
    for rel in sorted(previous - set(written)):   # the last export's, not written again
        stale = root / rel
        if stale.is_file() and not stale.is_symlink():
            stale.unlink()
    (root / _MANIFEST).write_text("".join(f"{rel}\n" for rel in sorted(written)))
    return root


_MANIFEST = ".kcc-export-files"


def _check_float_outputs(model, unit: PredictUnit) -> None:
    """The C API's predict writes float32 outputs (`float* const* outputs`); an int32 one
    (ids handed on by Flatten/Reshape, which predict in Python returns as int32) has no
    place there, so it is refused before anything is written."""
    graph = unit.graph
    for i, (value, layer) in enumerate(zip(graph.outputs, graph.output_names)):
        if graph.values[value].dtype != "float32":
            raise ValueError(
                f"Cannot export model '{model.name}': output {i} (of layer '{layer}') is "
                f"{graph.values[value].dtype} (integer ids handed on unchanged), but an exported "
                f"library's predict writes float32 outputs only. Leave that output out of the "
                f"exported model: its values are the caller's own input ids.")


def _previous_files(root: Path) -> set[str]:
    """The files the last export into `root` wrote (relative paths inside it), if any."""
    try:
        lines = (root / _MANIFEST).read_text().splitlines()
    except OSError:
        return set()
    return {rel for rel in lines
            if rel and not os.path.isabs(rel) and ".." not in Path(rel).parts}


def _block_comment(text) -> str:
    """Text safe inside a /* */ comment, a // comment and a Markdown table cell."""
    ccomment = environment().filters["ccomment"]
    text = ccomment(text).replace("|", "!")
    while "*/" in text or "/*" in text:
        text = text.replace("*/", "* /").replace("/*", "/ *")
    return text


def _tensor(unit: PredictUnit, value_name: str, layer_name: str, bound: int) -> dict:
    v = unit.graph.values[value_name]
    shape = tuple(int(d) for d in v.shape)
    return dict(
        name=layer_name, comment=_block_comment(layer_name), shape=shape, size=v.size, bound=bound,
        ctype="int32_t" if v.dtype == "int32" else "float",
        dims_c="".join(f"[{d}]" for d in shape),
        shape_text="(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")",
    )


def context(unit: PredictUnit, name: str, version: str, globals_: list[str]) -> dict:
    """The templates' variables. `globals_`: the headers' non-namespaced functions."""
    g = unit.graph
    return dict(
        name=name, NAME=name.upper(), kcc_version=version, fingerprint=unit.fingerprint,
        # the unit's external names, which CMakeLists.txt renames per object (kcc/export/symbols.py)
        unit_functions=extern_c_functions(unit.source), header_globals=globals_,
        model_comment=_block_comment(g.name),
        inputs=[_tensor(unit, v, g.input_names[i], unit.input_bound(i)) for i, v in enumerate(g.inputs)],
        outputs=[_tensor(unit, v, g.output_names[i], 0) for i, v in enumerate(g.outputs)],
    )
