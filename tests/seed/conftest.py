import pytest


@pytest.fixture(autouse=True)
def _release_build(release_flags):
    """The guide's examples and the README's build as a user's models do: at kcc's release flags
    (-O3; the rest of the suite builds at -O1, tests/conftest.py)."""
