"""Workshop items: keeping their rows in step with what Steam says."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from workshop.models import WorkshopItem
from workshop.steam import WorkshopMetadata

METADATA_FIELDS = ("title", "filename", "file_url", "file_size", "time_updated", "preview_url")
STORED_FIELDS = (*METADATA_FIELDS, "consumer_app_id", "steam_result", "last_checked_at", "last_error")
NO_ENTRY = "steam returned no entry for this item"
WRITE_BATCH = 500


def items_store_metadata(metas: Iterable[WorkshopMetadata]) -> dict[str, WorkshopItem]:
    """Create or update one row per item in bulk; returns steam_id -> row.

    Only rows Steam changed go through bulk_update (one CASE per field and row: slow, and it
    holds SQLite's write lock); the others just get last_checked_at, one plain UPDATE per batch.
    """
    metas = list(metas)
    rows = WorkshopItem.objects.in_bulk([m.steam_id for m in metas], field_name="steam_id")
    now = timezone.now()
    new: list[WorkshopItem] = []
    changed: list[WorkshopItem] = []
    checked: list[WorkshopItem] = []
    for meta in metas:
        row = rows.get(meta.steam_id)
        if row is None:
            row = rows[meta.steam_id] = WorkshopItem(steam_id=meta.steam_id)
            new.append(row)
        before = _stored_values(row)
        item_apply_metadata(row, meta, now)
        if row.pk:
            (checked if _stored_values(row) == before else changed).append(row)
    WorkshopItem.objects.bulk_update(changed, STORED_FIELDS, batch_size=WRITE_BATCH)
    for start in range(0, len(checked), WRITE_BATCH):
        pks = [row.pk for row in checked[start : start + WRITE_BATCH]]
        WorkshopItem.objects.filter(pk__in=pks).update(last_checked_at=now)
    WorkshopItem.objects.bulk_create(new, batch_size=WRITE_BATCH)
    return WorkshopItem.objects.in_bulk(list(rows), field_name="steam_id")


def _stored_values(item: WorkshopItem) -> tuple[object, ...]:
    return tuple(getattr(item, name) for name in STORED_FIELDS if name != "last_checked_at")


def item_apply_metadata(item: WorkshopItem, meta: WorkshopMetadata, now: datetime) -> None:
    """Copy what Steam said onto the row; last_downloaded_at is the build's business."""
    item.last_checked_at = now
    item.steam_result = meta.result
    if not meta.ok or meta.banned or meta.invalid:
        # Not served any more. Size and time stay as Steam last gave them: they describe the
        # cached file, which the build keeps linked.
        item.file_url = ""
        item.last_error = _not_served(meta)
        return
    for name in METADATA_FIELDS:
        setattr(item, name, getattr(meta, name))
    item.consumer_app_id, item.last_error = meta.consumer_app_id, ""


def _not_served(meta: WorkshopMetadata) -> str:
    """Why Steam serves no file of the item, as the pages show it: "steam result 9: deleted or private"."""
    if not meta.found:
        return NO_ENTRY
    if meta.ok:
        return meta.problem  # banned, or a number out of range
    why = meta.problem
    return why if why.startswith("steam result") else f"steam result {meta.result}: {why}"


def is_game_item(meta: WorkshopMetadata) -> bool:
    """Steam serves it, and for our game."""
    return meta.ok and meta.consumer_app_id == settings.STEAM_APP_ID


def items_stamp_downloads(items: Iterable[WorkshopItem], done: set[str], failed: dict[str, str]) -> None:
    """Record a build's downloads on the rows: when each finished, or why it failed."""
    now = timezone.now()
    changed = []
    for item in items:
        if item.steam_id in done:
            item.last_downloaded_at, item.last_error = now, ""
            item.cached_version = item.time_updated
            changed.append(item)
        elif item.steam_id in failed:
            item.last_error = f"download failed: {failed[item.steam_id]}"
            changed.append(item)
    WorkshopItem.objects.bulk_update(changed, ["last_downloaded_at", "cached_version", "last_error"])
