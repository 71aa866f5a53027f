import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def compiled_cases():
    """Every CUDA case compiled for the CPU once, shared by the nvcc and the emulation
    checks (they only read the models; test_parity.py builds its own, it trains them)."""
    from cases import compile_cases
    return compile_cases()
