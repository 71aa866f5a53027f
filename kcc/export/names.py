"""The export's name: a C identifier that prefixes every symbol, file and CMake target.

`<name>.h`, `<name>_predict`, `<NAME>_OK`, the CMake package `<name>` and its target
`<name>::<name>` all come from it, so it must be a C identifier that no C keyword,
CMake target or other library is likely to claim.
"""
from __future__ import annotations

import re

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Targets CMake defines itself (a library target of that name would clash), and the C
# keywords and standard names a prefix must not be.
_RESERVED = {
    "all", "clean", "help", "install", "test", "package", "package_source", "edit_cache",
    "rebuild_cache", "list_install_components", "install_local", "install_strip", "kcc",
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "bool", "true", "false", "main",
    # src/model.cpp is the generated unit: src/<name>.cpp must be another file
    "model",
    # CMake targets and libraries the project links (BLAS::BLAS, Threads::Threads, -lm)
    "blas", "threads", "m", "pthread", "dl", "rt", "c", "gcc", "stdc++",
    # include/<name>.h is on the include path: a standard C, POSIX or compiler header of
    # the same name would be hidden by it
    "assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646", "limits",
    "locale", "math", "setjmp", "signal", "stdalign", "stdarg", "stdatomic", "stdbool",
    "stddef", "stdint", "stdio", "stdlib", "stdnoreturn", "string", "tgmath", "threads",
    "time", "uchar", "wchar", "wctype", "strings", "unistd", "sched", "dlfcn", "fcntl",
    "semaphore", "alloca", "malloc", "memory", "endian", "features", "cblas", "immintrin",
    "x86intrin", "emmintrin", "omp",
}


def check_name(name: str) -> str:
    """`name` itself when it is usable, else a ValueError that says why and what to use."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(
            f"Received an invalid export name: {name!r}. Expected a C identifier (letters, "
            f"digits and '_', not starting with a digit), e.g. name='digits_mlp': it prefixes "
            f"the C API (<name>_predict), the header <name>.h and the CMake package <name>.")
    if name.lower() in _RESERVED or name.startswith("__") or len(name) > 64:
        raise ValueError(
            f"Received an invalid export name: {name!r}. It is reserved (a C keyword, a "
            f"CMake target or library, a standard header's name, 'model' or 'kcc'), starts "
            f"with '__', or is longer than 64 characters; "
            f"choose another, e.g. name='{name.strip('_')[:40] or 'model'}_net'.")
    return name


def default_name(model_name: str) -> str:
    """The model's own name made into an export name: 'model_1' stays, 'my-net' -> 'my_net'."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(model_name)).strip("_")[:64] or "model"
    if name[0].isdigit():
        name = "m_" + name
    if name.lower() in _RESERVED:
        name += "_model"
    return check_name(name[:64])
