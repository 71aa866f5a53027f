"""Native builds for kcc: sources in, a cached shared library out.

    from kcc.build import build_shared_library, BuildError, Toolchain, default_toolchain
    path = build_shared_library({"model.cpp": text}, include_dirs=[...],
                                library_dirs=[], libraries=[], rpaths=[])

Set KCC_DEBUG=1 to print each cache entry and how long it took.
"""
from kcc.build.cache import build_shared_library
from kcc.build.errors import BuildError
from kcc.build.toolchain import Toolchain, default_toolchain

__all__ = ["build_shared_library", "BuildError", "Toolchain", "default_toolchain"]
