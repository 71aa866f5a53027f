"""Shared test setup: every test session builds into its own cache directory, so tests
never read or write the user's ~/.cache/kcc (and always exercise cold builds once)."""
import os
import sys
import tempfile

import pytest

# numerics_ref (float64 references, finite differences) serves every test folder
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "numerics"))


@pytest.fixture(autouse=True, scope="session")
def _kcc_cache_dir():
    if "KCC_CACHE_DIR" in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="kcc-test-cache-") as d:
        os.environ["KCC_CACHE_DIR"] = d
        yield
        del os.environ["KCC_CACHE_DIR"]
