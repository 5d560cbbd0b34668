"""Fixtures every test suite may use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fakesteam import FakeSteam


@pytest.fixture
def steam(settings: Any) -> Iterator[FakeSteam]:
    """A fake Steam API and content server on loopback, with STEAM_API_BASE_URL pointing at it."""
    with FakeSteam() as fake:
        settings.STEAM_API_BASE_URL = fake.base_url
        yield fake
