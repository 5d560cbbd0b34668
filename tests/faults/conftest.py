from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("operator", password="pw-123456")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def cache_leftovers() -> list[str]:
    """Anything in the cache that is not a complete item or a lock: partials, temp files."""
    root = Path(settings.WORKSHOP_CACHE_ROOT)
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if p.name != ".locks" and not p.name.endswith(".vpk"))
