import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def compiled_cases(request):
    """The CUDA cases compiled for the CPU once, shared by the nvcc and the emulation checks
    (they only read the models; test_parity.py builds its own, it trains them): every case,
    or, when the selected tests name theirs (`-k layer_norm`), only those, so checking one
    case does not build all of them."""
    from cases import compile_cases
    return compile_cases(_selected_cases(request.session.items))


def _selected_cases(items):
    """The `name` parameters of the selected tests that use compiled_cases, or None (every
    case) when one of them reads the cases without naming one."""
    names = set()
    for item in items:
        if "compiled_cases" not in getattr(item, "fixturenames", ()):
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is None or "name" not in callspec.params:
            return None
        names.add(callspec.params["name"])
    return names
