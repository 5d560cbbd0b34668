import pytest


@pytest.fixture(autouse=True)
def _private_roots(private_roots: None) -> None:
    """Every test here gets its own cache and overlays folders."""
