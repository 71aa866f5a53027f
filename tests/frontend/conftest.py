import pytest

from kcc.utils import clear_session


@pytest.fixture(autouse=True)
def fresh_names():
    """Every test starts naming from dense_1, input_1, ... as a new process would."""
    clear_session()
    yield
