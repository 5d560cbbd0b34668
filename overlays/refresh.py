"""Refresh from Steam: fresh details of the items in use, new children of remembered
collections, and builds for the overlays whose files must change."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from jobs.runner import JobContext, JobFailed
from overlays.build import overlay_build
from overlays.models import Overlay, OverlayWorkshopCollection, OverlayWorkshopItem
from overlays.services import build_enqueue, steam_call
from workshop.cache import CacheState
from workshop.models import WorkshopItem
from workshop.services import is_game_item, items_store_metadata
from workshop.steam import WorkshopMetadata, batches, expand_collections, fetch_metadata_batch


@dataclass
class RefreshResult:
    items: int = 0
    changed: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    overlays: set[int] = field(default_factory=set)


def overlay_refresh(*, overlay: Overlay, ctx: JobContext) -> None:
    """Fresh metadata for the overlay's items (and its collections' new items), then the build."""
    _refresh(overlay_ids=[overlay.pk], ctx=ctx)
    overlay_build(overlay=overlay, ctx=ctx)


def items_refresh_all(*, ctx: JobContext) -> RefreshResult:
    """Refresh every item in use; enqueue builds only for overlays whose files must change."""
    result = _refresh(overlay_ids=None, ctx=ctx)
    for overlay in Overlay.objects.filter(pk__in=result.overlays).order_by("pk"):
        job = build_enqueue(overlay=overlay, user=None)
        ctx.log_stdout(f"enqueued {job.operation} job {job.pk} for overlay '{overlay.name}'")
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
    children = steam_call(expand_collections, sorted({sid for _, sid in pairs}), error=JobFailed)
    new: dict[int, set[str]] = defaultdict(set)
    for overlay_id, collection_id in pairs:
        new[overlay_id] |= set(children.get(collection_id, ()))
    return {oid: ids - linked.get(oid, set()) for oid, ids in new.items()}


def _fetch_for_refresh(ids: list[str], ctx: JobContext) -> list[WorkshopMetadata]:
    ctx.progress(items_done=0, items_total=len(ids))
    metas: list[WorkshopMetadata] = []
    requests = 0
    for batch in batches(ids):  # batch by batch, so the job's progress moves
        metas.extend(steam_call(fetch_metadata_batch, batch, error=JobFailed))
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
    rows = items_store_metadata(m for m in metas if m.steam_id in before or is_game_item(m))
    _link_new(new_links, rows)
    return _affected(rows, before, linked, new_links)


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
        elif row.file_url and row.cache_state() != CacheState.CACHED:
            result.missing.add(sid)
    touched = result.changed | result.missing
    result.overlays = {oid for oid, ids in linked.items() if ids & touched}
    result.overlays |= {oid for oid, ids in new_links.items() if ids & set(rows)}
    return result
