from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_roots(private_roots: None) -> None:
    """Every test here gets its own cache folder and short backoffs."""


@pytest.fixture
def fast(settings):
    """Short backoffs and time-outs, three attempts."""
    settings.WORKSHOP_RETRY_BACKOFF = 0.01
    settings.WORKSHOP_RETRY_BACKOFF_MAX = 2.0
    settings.WORKSHOP_DOWNLOAD_ATTEMPTS = 3
    settings.WORKSHOP_CONNECT_TIMEOUT = 2.0
    settings.WORKSHOP_READ_TIMEOUT = 2.0
    return settings


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "workshop_cache"
