import pytest


@pytest.fixture(autouse=True)
def _release_build(release_flags):
    """The benchmark harness builds kcc as it measures it: at kcc's release flags
    (-O3; the rest of the suite builds at -O1, tests/conftest.py)."""
