"""Workshop items of overlays: add, remove, refresh from Steam."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from jobs.models import Job
from jobs.runner import JobContext, JobFailed
from jobs.services import job_enqueue, job_enqueue_ex
from overlays.models import Overlay
from overlays.services import OverlayError, overlay_build
from workshop.models import OverlayWorkshopCollection, OverlayWorkshopItem, WorkshopItem
from workshop.parsing import WorkshopInputError, parse_workshop_input
from workshop.steam import (
    SteamAPIError,
    WorkshopMetadata,
    batches,
    expand_collections,
    fetch_collection_children,
    fetch_metadata_batch,
    require_game_items,
)

T = TypeVar("T")
INPUT_MODES = ("items", "collection")
METADATA_FIELDS = ("title", "filename", "file_url", "file_size", "time_updated", "preview_url")
STORED_FIELDS = (*METADATA_FIELDS, "consumer_app_id", "steam_result", "last_checked_at", "last_error")
NO_ENTRY = "steam returned no entry for this item"


# --- add and remove ---------------------------------------------------------------------


def items_add(*, overlay: Overlay, text: str, input_mode: str, user: AbstractBaseUser | None) -> Job:
    """Add items (or a collection's items) to `overlay` and enqueue its build.

    Raises WorkshopInputError (bad entry, another game's item, Steam API failure, too many
    entries) before anything is written.
    """
    if input_mode not in INPUT_MODES:
        raise WorkshopInputError(f"unknown input mode: {input_mode!r}")
    ids = parse_workshop_input(text)
    collections = ids if input_mode == "collection" else []
    item_ids = _expand_collections(ids) if collections else ids
    metas = _fetch_for_add(item_ids)
    return _store_added(overlay=overlay, metas=metas, collections=collections, user=user)


def _expand_collections(collection_ids: list[str]) -> list[str]:
    children = _steam(fetch_collection_children, collection_ids)
    if not children:
        raise WorkshopInputError(f"no workshop items in collection {', '.join(collection_ids)}")
    limit = settings.WORKSHOP_MAX_ENTRIES
    if len(children) > limit:
        raise WorkshopInputError(f"too many workshop items: {len(children)} (at most {limit} at once)")
    return children


def _fetch_for_add(ids: list[str]) -> list[WorkshopMetadata]:
    metas = _steam(fetch_metadata_batch, ids)
    unknown = [m.steam_id for m in metas if not m.found or m.result == 9]
    if unknown:
        raise WorkshopInputError(f"no such workshop item: {', '.join(unknown)}")
    require_game_items(metas)
    return metas


def _steam(
    call: Callable[[Sequence[str]], T], ids: Sequence[str], *, error: type[Exception] = WorkshopInputError
) -> T:
    """Call Steam; its failure becomes `error` ("steam api error: …"): bad input on add, a failed job on refresh."""
    try:
        return call(ids)
    except SteamAPIError as exc:
        raise error(f"steam api error: {exc}") from exc


@transaction.atomic
def _store_added(
    *, overlay: Overlay, metas: list[WorkshopMetadata], collections: list[str], user: AbstractBaseUser | None
) -> Job:
    items = items_store_metadata(metas)
    overlay_link_items(overlay=overlay, items=items.values())
    OverlayWorkshopCollection.objects.bulk_create(
        [OverlayWorkshopCollection(overlay=overlay, steam_id=sid) for sid in collections],
        ignore_conflicts=True,
    )
    return build_enqueue(overlay=overlay, user=user)


@transaction.atomic
def item_remove(*, overlay: Overlay, steam_id: str, user: AbstractBaseUser | None) -> Job:
    """Unlink the item; the build that follows removes its symlink (the cache file stays)."""
    deleted, _ = OverlayWorkshopItem.objects.filter(overlay=overlay, item__steam_id=steam_id).delete()
    if not deleted:
        raise OverlayError(f"workshop item {steam_id} is not in this overlay")
    return build_enqueue(overlay=overlay, user=user)


def build_enqueue(*, overlay: Overlay, user: AbstractBaseUser | None) -> Job:
    return job_enqueue(operation=Job.Operation.BUILD_OVERLAY, user=user, overlay=overlay)


def overlay_link_items(*, overlay: Overlay, items: Iterable[WorkshopItem]) -> None:
    OverlayWorkshopItem.objects.bulk_create(
        [OverlayWorkshopItem(overlay=overlay, item=item) for item in items], ignore_conflicts=True
    )


# --- metadata ---------------------------------------------------------------------------


def items_store_metadata(metas: Iterable[WorkshopMetadata]) -> dict[str, WorkshopItem]:
    """Create or update one row per item in bulk; returns steam_id -> row.

    Only rows Steam changed go through bulk_update (one CASE per field and row: slow, and it
    holds SQLite's write lock); the others just get last_checked_at, one plain UPDATE per batch.
    """
    metas = list(metas)
    rows = WorkshopItem.objects.in_bulk([m.steam_id for m in metas], field_name="steam_id")
    now = timezone.now()
    new, changed, checked = [], [], []
    for meta in metas:
        row = rows.get(meta.steam_id)
        if row is None:
            row = rows[meta.steam_id] = WorkshopItem(steam_id=meta.steam_id)
            new.append(row)
        before = _stored_values(row)
        item_apply_metadata(row, meta, now)
        if row.pk:
            (checked if _stored_values(row) == before else changed).append(row)
    WorkshopItem.objects.bulk_update(changed, STORED_FIELDS, batch_size=500)
    for start in range(0, len(checked), 500):
        pks = [row.pk for row in checked[start : start + 500]]
        WorkshopItem.objects.filter(pk__in=pks).update(last_checked_at=now)
    WorkshopItem.objects.bulk_create(new, batch_size=500)
    return WorkshopItem.objects.in_bulk(list(rows), field_name="steam_id")


def _stored_values(item: WorkshopItem) -> tuple[object, ...]:
    return tuple(getattr(item, name) for name in STORED_FIELDS if name != "last_checked_at")


def item_apply_metadata(item: WorkshopItem, meta: WorkshopMetadata, now: datetime) -> None:
    """Copy what Steam said onto the row; last_downloaded_at is the build's business."""
    item.last_checked_at = now
    item.steam_result = meta.result
    if not meta.ok:
        # Not served any more. Size and time stay as Steam last gave them: they describe the
        # cached file, which the build keeps linked.
        item.file_url = ""
        item.last_error = f"steam result {meta.result}" if meta.found else NO_ENTRY
        return
    for name in METADATA_FIELDS:
        setattr(item, name, getattr(meta, name))
    item.consumer_app_id, item.last_error = meta.consumer_app_id, ""


# --- refresh ----------------------------------------------------------------------------


@dataclass
class RefreshResult:
    items: int = 0
    changed: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    overlays: set[int] = field(default_factory=set)


def overlay_refresh_enqueue(*, overlay: Overlay, user: AbstractBaseUser | None) -> tuple[Job, bool]:
    if not overlay.workshop_links.exists():
        raise OverlayError("overlay has no items")
    return job_enqueue_ex(operation=Job.Operation.REFRESH_OVERLAY, user=user, overlay=overlay)


def global_refresh_enqueue() -> tuple[Job, bool]:
    """The one entry point of the CLI, celery-beat and the admin: coalesces with a live one."""
    return job_enqueue_ex(operation=Job.Operation.REFRESH_WORKSHOP_ITEMS)


def overlay_refresh(*, overlay: Overlay, ctx: JobContext) -> None:
    """Fresh metadata for the overlay's items (and its collections' new items), then the build."""
    _refresh(overlay_ids=[overlay.pk], ctx=ctx)
    overlay_build(overlay=overlay, ctx=ctx)


def items_refresh_all(*, ctx: JobContext) -> RefreshResult:
    """Refresh every item in use; enqueue builds only for overlays whose files must change."""
    result = _refresh(overlay_ids=None, ctx=ctx)
    for overlay in Overlay.objects.filter(pk__in=result.overlays).order_by("pk"):
        job = build_enqueue(overlay=overlay, user=None)
        ctx.log_stdout(f"enqueued build_overlay job {job.pk} for overlay '{overlay.name}'")
    return result


def _refresh(*, overlay_ids: list[int] | None, ctx: JobContext) -> RefreshResult:
    linked = _linked_ids(overlay_ids)
    new_links = _new_collection_items(overlay_ids, linked)
    ids = sorted({sid for ids in (*linked.values(), *new_links.values()) for sid in ids})
    metas = _fetch_for_refresh(ids, ctx)
    result = _store_refresh(metas, linked, new_links)
    ctx.log_stdout(
        f"workshop refresh: items={result.items} changed={len(result.changed)} "
        f"missing={len(result.missing)} new={sum(len(v) for v in new_links.values())} "
        f"overlays={len(result.overlays)}"
    )
    return result


def _linked_ids(overlay_ids: list[int] | None) -> dict[int, set[str]]:
    links = OverlayWorkshopItem.objects.all()
    if overlay_ids is not None:
        links = links.filter(overlay_id__in=overlay_ids)
    linked: dict[int, set[str]] = defaultdict(set)
    for overlay_id, steam_id in links.values_list("overlay_id", "item__steam_id"):
        linked[overlay_id].add(steam_id)
    return linked


def _new_collection_items(overlay_ids: list[int] | None, linked: dict[int, set[str]]) -> dict[int, set[str]]:
    """Items added to a remembered collection since the overlay last saw it.

    Every remembered collection is expanded in one go (one request per nesting level), however
    many overlays share it.
    """
    collections = OverlayWorkshopCollection.objects.all()
    if overlay_ids is not None:
        collections = collections.filter(overlay_id__in=overlay_ids)
    pairs = list(collections.values_list("overlay_id", "steam_id"))
    if not pairs:
        return {}
    children = _steam(expand_collections, sorted({sid for _, sid in pairs}), error=JobFailed)
    new: dict[int, set[str]] = defaultdict(set)
    for overlay_id, collection_id in pairs:
        new[overlay_id] |= set(children.get(collection_id, ()))
    return {oid: ids - linked.get(oid, set()) for oid, ids in new.items()}


def _fetch_for_refresh(ids: list[str], ctx: JobContext) -> list[WorkshopMetadata]:
    ctx.progress(items_done=0, items_total=len(ids))
    metas: list[WorkshopMetadata] = []
    requests = 0
    for batch in batches(ids):  # batch by batch, so the job's progress moves
        metas.extend(_steam(fetch_metadata_batch, batch, error=JobFailed))
        requests += 1
        ctx.progress(items_done=len(metas))
    ctx.log_stdout(f"fetched metadata for {len(metas)} items in {requests} request(s)")
    return metas


@transaction.atomic
def _store_refresh(
    metas: list[WorkshopMetadata], linked: dict[int, set[str]], new_links: dict[int, set[str]]
) -> RefreshResult:
    before = {
        sid: (updated, size)
        for sid, updated, size in WorkshopItem.objects.filter(
            steam_id__in=[m.steam_id for m in metas]
        ).values_list("steam_id", "time_updated", "file_size")
    }
    rows = items_store_metadata(m for m in metas if m.steam_id in before or _is_game_item(m))
    _link_new(new_links, rows)
    return _affected(rows, before, linked, new_links)


def _is_game_item(meta: WorkshopMetadata) -> bool:
    return meta.ok and meta.consumer_app_id == settings.STEAM_APP_ID


def _link_new(new_links: dict[int, set[str]], rows: dict[str, WorkshopItem]) -> None:
    OverlayWorkshopItem.objects.bulk_create(
        [
            OverlayWorkshopItem(overlay_id=overlay_id, item=rows[sid])
            for overlay_id, ids in new_links.items()
            for sid in ids
            if sid in rows
        ],
        ignore_conflicts=True,
    )


def _affected(
    rows: dict[str, WorkshopItem],
    before: dict[str, tuple[int, int]],
    linked: dict[int, set[str]],
    new_links: dict[int, set[str]],
) -> RefreshResult:
    result = RefreshResult(items=len(rows))
    for sid, row in rows.items():
        if sid in before and (row.time_updated, row.file_size) != before[sid]:
            result.changed.add(sid)
        elif row.file_url and row.cache_state() != "cached":
            result.missing.add(sid)
    touched = result.changed | result.missing
    result.overlays = {oid for oid, ids in linked.items() if ids & touched}
    result.overlays |= {oid for oid, ids in new_links.items() if ids & set(rows)}
    return result
