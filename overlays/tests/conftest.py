import pytest

from overlays.tests.fixtures import (  # noqa: F401 - fixtures
    ctx,
    overlay,
    owner,
    owner_client,
    private_roots,
    staff,
    stranger,
)


@pytest.fixture(autouse=True)
def _private_roots(private_roots):  # noqa: F811
    """Every test here gets its own cache and overlays folders."""
