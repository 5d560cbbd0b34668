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


class ServerOut(Schema):
    """A game server as its page lists it (never its RCON password)."""

    id: int
    name: str
    overlay: int
    overlay_name: str
    host: str
    address: str
    port: int
    apply_policy: str
    state: str
    map: str
    players: int
    max_players: int
    url: str


class ServerApplyJob(Schema):
    id: int
    state: str
    title: str
    waiting: str
    error: str


class ServerStatusOut(ServerOut):
    """The server with what its page polls: the last answer of the game server and the apply."""

    latency_ms: float | None
    last_seen: str | None
    applied_build: int | None
    pending_changes: int
    line: str
    apply_job: ServerApplyJob | None


class DestinationIn(Schema):
    name: str
    url: str
    events: list[str] = []  # none: every event the user may take


class DestinationOut(Schema):
    """A notice destination; its URL is a secret and only its scheme and a masked host show."""

    id: int
    name: str
    shown_url: str
    events: list[str]
    disabled: bool
    failures: int
    last_error: str
    last_sent_at: datetime | None


class HostOut(Schema):
    name: str
    status: str
    overlays: int
    cache_bytes: int | None
    free_bytes: int | None
    total_bytes: int | None
    last_seen_at: datetime | None


class CollectIn(Schema):
    host: str = ""  # none: the default host


class CollectStarted(JobStarted):
    created: bool  # False: a collection already queued or running is the answer
