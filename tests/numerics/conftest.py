"""Shared setup for the numerics tests.

- The float64 numpy references live in `numerics_ref.py` next to this file; tests/conftest.py
  puts this folder on sys.path so every test file can `import numerics_ref`.
- Compiled models go to a cache of this test session's own, so the tests build and load
  exactly the code of this checkout and leave the user's cache alone.
- Auto names restart for every test (`dense_1`, ...), so weight paths are predictable.
"""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_kcc_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("kcc-cache")
    os.chmod(cache, 0o700)
    previous = os.environ.get("KCC_CACHE_DIR")
    os.environ["KCC_CACHE_DIR"] = str(cache)
    yield
    if previous is None:
        os.environ.pop("KCC_CACHE_DIR", None)
    else:
        os.environ["KCC_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def _fresh_names():
    from kcc.utils import clear_session
    clear_session()
    yield
