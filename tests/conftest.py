"""Shared test setup: every test session builds into its own cache directory, so tests
never read or write the user's ~/.cache/kcc (and always exercise cold builds once)."""
import os
import tempfile

import pytest


@pytest.fixture(autouse=True, scope="session")
def _kcc_cache_dir():
    if "KCC_CACHE_DIR" in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="kcc-test-cache-") as d:
        os.environ["KCC_CACHE_DIR"] = d
        yield
        del os.environ["KCC_CACHE_DIR"]
