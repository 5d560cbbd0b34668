"""Helpers the test suites share (plain functions and classes; the fixtures are in conftest.py)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from jobs.models import Job
from jobs.registry import Operation
from overlays.models import Overlay, OverlayWorkshopItem
from tests.support.fakesteam import FakeSteam
from workshop.models import WorkshopItem

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
    summary: str = ""
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> title, state, bytes...
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def log_stdout(self, text: str) -> None:
        self.stdout.append(text)

    def log_stderr(self, text: str) -> None:
        self.stderr.append(text)

    def summarize(self, text: str) -> None:
        self.summary = text
        self.stdout.append(text)

    def progress(self, **values: int | None) -> None:
        self.progress_calls.append(values)

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_added += n

    def should_cancel(self) -> bool:
        return self.cancel

    def items_declare(self, items: Any) -> None:
        self.items = {
            key: {"title": title, "state": "queued", "bytes_done": 0, "bytes_total": size, "error": ""}
            for key, title, size in items
        }

    def item_state(self, key: str, state: str, *, error: str = "") -> None:
        with self._lock:
            self.items[key] |= {"state": state, "error": error}

    def item_add_bytes(self, key: str, n: int) -> None:
        with self._lock:
            self.items[key]["bytes_done"] += n
            self.bytes_added += n


@dataclass
class SentMessages:
    """Stands in for the Celery app's send_task: records the messages instead of sending them."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, name: str, **kwargs: Any) -> None:
        self.calls.append({"name": name, **kwargs})

    @property
    def job_ids(self) -> list[int]:
        return [call["args"][0] for call in self.calls]


def link_target(link: Path) -> str:
    """Where a link in addons/ points, as an absolute path (the links themselves are relative)."""
    return os.path.normpath(os.path.join(link.parent, os.readlink(link)))


def make_overlay(owner: Any, name: str) -> Overlay:
    """A bare overlay row, for suites that need a job subject and nothing of its folder."""
    return Overlay.objects.create(owner=owner, name=name)


def make_job(operation: str | Operation = "test_sleep", **fields: Any) -> Job:
    """A job row as enqueue makes it: the owner of its subject (if any) may see it."""
    if fields.get("subject") is not None:
        fields.setdefault("owner", getattr(fields["subject"], "owner", None))
        fields.setdefault("subject_name", str(fields["subject"]))
    name = operation.name if isinstance(operation, Operation) else operation
    return Job.objects.create(operation=name, **fields)


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
    return sorted(
        p.name for p in root.iterdir() if p.name not in (".locks", "versions") and not p.name.endswith(".vpk")
    )


@dataclass
class Hooks:
    """DownloadHooks for tests: records bytes and log lines; cancels once `cancel()` says so."""

    cancel: Callable[[], bool] = lambda: False
    progress: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def should_cancel(self) -> bool:
        return self.cancel()

    def add_bytes(self, n: int) -> None:
        self.progress.append(n)

    def log_stderr(self, text: str) -> None:
        self.lines.append(text)
