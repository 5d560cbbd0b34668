"""What the API takes and answers (django-ninja schemas: the OpenAPI document is made from them)."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema


class Error(Schema):
    detail: str


class JobStarted(Schema):
    """A write that started work: the job that does it, and its page."""

    job: int
    url: str


class ItemsAdded(JobStarted):
    added: int
    left_out: list[str]


class JobCancelled(JobStarted):
    state: str


class OverlayIn(Schema):
    name: str
    host: str = ""


class MoveIn(Schema):
    host: str = ""


class ItemsIn(Schema):
    input: str
    mode: str = "auto"


class UnfollowIn(Schema):
    items: str = ""


class RollbackIn(Schema):
    version: int | None = None  # a kept upload (its Steam time_updated); none: the one before


class UploadOut(Schema):
    """A kept upload of an item, as its history page shows it."""

    version: int
    uploaded_at: datetime
    newest: bool
    linked: bool
    pinned: bool
    skipped: bool
    size: int | None  # None: the file was not read (yet)
    title: str
    addon_version: str
    changes: dict[str, object]


class BuildOut(Schema):
    id: int
    state: str
    url: str


class HealthOut(Schema):
    total: int
    ready: int
    failed: int
    skipped: int
    pinned: int
    size: int


class CollectionOut(Schema):
    steam_id: str
    title: str


class OverlayOut(Schema):
    id: int
    name: str
    owner: str
    host: str
    build_state: str | None
    url: str


class OverlayDetailOut(OverlayOut):
    created_at: datetime
    items: HealthOut
    latest_build: BuildOut | None
    collections: list[CollectionOut]
    share_url: str | None


class ItemOut(Schema):
    steam_id: str
    title: str
    state: str
    label: str
    size: int
    pinned: bool
    update_available: bool
    sources: str
    error: str


class ItemPage(Schema):
    count: int
    page: int
    pages: int
    items: list[ItemOut]


class JobOut(Schema):
    id: int
    operation: str
    title: str
    state: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    url: str


class JobPage(Schema):
    count: int
    page: int
    pages: int
    jobs: list[JobOut]


class JobProgress(Schema):
    items_done: int
    items_total: int
    bytes_done: int
    bytes_total: int


class JobItemOut(Schema):
    key: str
    title: str
    state: str
    state_label: str
    bytes_done: int
    bytes_total: int
    percent: int
    error: str


class JobLineOut(Schema):
    seq: int
    stream: str
    text: str
    time: str


class JobDetailOut(Schema):
    """What the job's page shows (its live status answer): state, progress, items and log lines."""

    id: int
    operation: str
    title: str
    state: str
    state_label: str
    error: str
    items_text: str
    progress: JobProgress
    started_at: str | None
    finished_at: str | None
    items: list[JobItemOut]
    lines: list[JobLineOut]
