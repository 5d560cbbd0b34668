"""Fixtures shared by the overlays and workshop test suites."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from overlays.models import Overlay
from overlays.services import overlay_create
from tests.support.fakesteam import FakeSteam
from workshop.models import OverlayWorkshopItem, WorkshopItem

T0 = 1_700_000_000


@dataclass
class FakeContext:
    """Stands in for jobs.runner.JobContext: records what the work reports."""

    job_id: int = 0
    job: Any = None
    cancel: bool = False
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    progress_calls: list[dict[str, int | None]] = field(default_factory=list)
    bytes_added: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def log_stdout(self, text: str) -> None:
        self.stdout.append(text)

    def log_stderr(self, text: str) -> None:
        self.stderr.append(text)

    def progress(self, **values: int | None) -> None:
        self.progress_calls.append(values)

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_added += n

    def should_cancel(self) -> bool:
        return self.cancel


@pytest.fixture
def private_roots(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> None:
    """Each unit test gets its own cache and overlays folders (a real worker keeps the defaults)."""
    if request.node.get_closest_marker("integration") is None:
        settings.WORKSHOP_CACHE_ROOT = tmp_path / "workshop_cache"
        settings.OVERLAYS_ROOT = tmp_path / "overlays"
        settings.WORKSHOP_RETRY_BACKOFF = 0.01
        settings.WORKSHOP_RETRY_BACKOFF_MAX = 0.02


@pytest.fixture
def ctx() -> FakeContext:
    return FakeContext()


@pytest.fixture
def owner(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("owner", password="pw")


@pytest.fixture
def stranger(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("stranger", password="pw")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password="pw", is_staff=True)


@pytest.fixture
def overlay(owner: Any) -> Overlay:
    return overlay_create(owner=owner, name="campaigns")


@pytest.fixture
def owner_client(client: Any, owner: Any) -> Any:
    client.force_login(owner)
    return client


def item_from_steam(
    steam: FakeSteam, steam_id: str, *, overlay: Overlay | None = None, **fields: Any
) -> WorkshopItem:
    """A row that matches what the fake Steam serves for `steam_id` (override any field)."""
    details = steam.details[steam_id]
    values = {
        "title": details["title"],
        "file_url": details["file_url"],
        "file_size": int(details["file_size"]),
        "time_updated": details["time_updated"],
        "consumer_app_id": 550,
        "steam_result": 1,
    }
    item = WorkshopItem.objects.create(steam_id=steam_id, **(values | fields))
    if overlay is not None:
        OverlayWorkshopItem.objects.create(overlay=overlay, item=item)
    return item


def put_in_cache(item: WorkshopItem, data: bytes, *, mtime: int | None = None) -> Path:
    path = item.cache_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = item.time_updated if mtime is None else mtime
    os.utime(path, (stamp, stamp))
    return path
