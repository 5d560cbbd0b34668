"""Refresh from Steam: fresh details of the items in use, new children of remembered
collections, and builds for the overlays whose files must change."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction

from jobs.runner import JobContext, JobFailed, JobRetryable
from left4me.models import Host
from overlays.build import overlay_build
from overlays.items import collection_link_children, usable_children
from overlays.models import Overlay, OverlayWorkshopCollection, OverlayWorkshopItem
from overlays.services import build_enqueue
from workshop.cache import CacheState
from workshop.models import WorkshopItem
from workshop.services import is_game_item, items_store_metadata
from workshop.steam import (
    BATCH_SIZE,
    CollectionLimitError,
    SteamAPIError,
    WorkshopMetadata,
    batches,
    expand_collections,
    fetch_metadata_batch,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedCall:
    """A Steam call that failed for good in this run; `transient`: it may succeed later."""

    why: str
    transient: bool

    @classmethod
    def of(cls, exc: SteamAPIError, why: str | None = None) -> FailedCall:
        return cls(why=str(exc) if why is None else why, transient=exc.transient)


@dataclass
class RefreshResult:
    items: int = 0
    changed: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    overlays: set[int] = field(default_factory=set)
    new: int = 0
    fetched: int = 0  # items Steam answered for
    errors: list[FailedCall] = field(default_factory=list)  # Steam calls that failed for good


def overlay_refresh(*, overlay: Overlay, ctx: JobContext) -> None:
    """Fresh metadata for the overlay's items (and its collections' new items), then the build."""
    result = _refresh(overlay_ids=[overlay.pk], ctx=ctx)
    if result.fetched:  # Steam answered something: build with it, then say what failed
        overlay_build(overlay=overlay, ctx=ctx)
    _fail_on_errors(result)


def items_refresh_all(*, ctx: JobContext) -> RefreshResult:
    """Refresh every item in use; enqueue builds only for overlays whose files must change.

    What Steam answered is kept even when some calls failed for good: those items keep their
    old data, the builds for the changes found are still queued, and the job then fails
    naming the failed calls.
    """
    result = _refresh(overlay_ids=None, ctx=ctx)
    overlays = Overlay.objects.filter(pk__in=result.overlays, deleting=False).select_related("host")
    for overlay in overlays.order_by("pk"):
        job = build_enqueue(overlay=overlay, user=None, reason="daily refresh")
        ctx.log_stdout(
            f"enqueued {job.operation} job {job.pk} for overlay '{overlay.name}' on host {overlay.host}"
        )
    _ask_other_hosts(result, ctx)
    _fail_on_errors(result)
    return result


def _ask_other_hosts(result: RefreshResult, ctx: JobContext) -> None:
    """The caches of other hosts are not on this machine: each host's worker checks its own for
    items its overlays miss (`host_cache_check`), skipping the overlays already being built."""
    others = Host.objects.filter(overlays__deleting=False).exclude(name=settings.LEFT4ME_HOST).distinct()
    for host in others:
        skip = sorted(result.overlays)
        transaction.on_commit(
            partial(
                current_app.send_task,
                "overlays.check_host_cache",
                args=[host.pk, skip],
                queue=host.job_queue,
            )
        )
        ctx.log_stdout(f"asked host {host} to check its workshop cache for items its overlays miss")


def host_cache_check(*, host: Host, skip: Iterable[int] = ()) -> list[int]:
    """On `host`'s worker: queue builds for its overlays (but `skip`) linking an item Steam
    serves that its cache lacks or holds stale. Returns the overlays' ids."""
    if not host.is_here:
        logger.warning("cache of host %s not checked: this is host %s", host, settings.LEFT4ME_HOST)
        return []
    ids = Overlay.objects.filter(host=host, deleting=False).exclude(pk__in=list(skip))
    linked = _linked_ids(list(ids.values_list("pk", flat=True)))
    steam_ids = {sid for sids in linked.values() for sid in sids}
    rows = WorkshopItem.objects.filter(steam_id__in=steam_ids).exclude(file_url="")
    missing = {row.steam_id for row in rows if row.cache_state() != CacheState.CACHED}
    affected = sorted(oid for oid, sids in linked.items() if sids & missing)
    for overlay in Overlay.objects.filter(pk__in=affected).order_by("pk"):
        build_enqueue(overlay=overlay, user=None, reason="daily refresh")
    return affected


def _fail_on_errors(result: RefreshResult) -> None:
    """Fail naming the failed calls; when each may pass (Steam kept failing), the job is retried."""
    if result.errors:
        error = JobRetryable if all(call.transient for call in result.errors) else JobFailed
        raise error(f"steam api error: {'; '.join(call.why for call in result.errors)}")


def _refresh(*, overlay_ids: list[int] | None, ctx: JobContext) -> RefreshResult:
    linked = _linked_ids(overlay_ids)
    followed = _followed(overlay_ids)
    children, errors = _expand(followed, ctx)
    members = {sid for kids in children.values() for sid in kids}
    wanted = {sid for ids in linked.values() for sid in ids} | members | {c.steam_id for c in followed}
    metas, batch_errors = _fetch_for_refresh(sorted(wanted), ctx)
    result = _store_refresh(metas, linked, followed, children, ctx, complete=not batch_errors)
    result.errors = errors + batch_errors
    result.fetched = len(metas)
    ctx.log_stdout(
        f"workshop refresh: items={result.items} changed={len(result.changed)} "
        f"missing={len(result.missing)} new={result.new} overlays={len(result.overlays)}"
        + (f" failed_calls={len(result.errors)}" if result.errors else "")
    )
    return result


def _linked_ids(overlay_ids: Iterable[int] | None) -> dict[int, set[str]]:
    links = OverlayWorkshopItem.objects.all()
    if overlay_ids is not None:
        links = links.filter(overlay_id__in=overlay_ids)
    linked: dict[int, set[str]] = defaultdict(set)
    for overlay_id, steam_id in links.values_list("overlay_id", "item__steam_id"):
        linked[overlay_id].add(steam_id)
    return linked


def _followed(overlay_ids: list[int] | None) -> list[OverlayWorkshopCollection]:
    collections = OverlayWorkshopCollection.objects.select_related("overlay__owner")
    collections = collections.order_by("overlay_id", "id")
    if overlay_ids is not None:
        collections = collections.filter(overlay_id__in=overlay_ids)
    return list(collections)


def _expand(
    followed: list[OverlayWorkshopCollection], ctx: JobContext
) -> tuple[dict[str, list[str]], list[FailedCall]]:
    """The children of every followed collection, each expanded once however many overlays
    follow it (one request per nesting level). The bounds of an add hold per collection: one
    that passes them is skipped (and said so), the others are expanded one by one."""
    if not followed:
        return {}, []
    ids = sorted({c.steam_id for c in followed})
    try:
        return expand_collections(ids, max_children=settings.WORKSHOP_COLLECTION_MAX_ITEMS * len(ids)), []
    except CollectionLimitError:
        pass
    except SteamAPIError as exc:
        ctx.log_stderr(f"collections not expanded: {exc}")
        return {}, [FailedCall.of(exc)]
    children: dict[str, list[str]] = {}
    errors: list[FailedCall] = []
    for collection_id in ids:
        try:
            children |= expand_collections([collection_id])
        except CollectionLimitError as exc:
            ctx.log_stderr(f"collection {collection_id} not expanded: {exc}")
        except SteamAPIError as exc:
            ctx.log_stderr(f"collection {collection_id} not expanded: {exc}")
            errors.append(FailedCall.of(exc))
    return children, errors


def _fetch_for_refresh(ids: list[str], ctx: JobContext) -> tuple[list[WorkshopMetadata], list[FailedCall]]:
    """Metadata batch by batch (so the job's progress moves); a batch that fails for good is
    named and skipped, its items keep their old data."""
    ctx.progress(items_done=0, items_total=len(ids))
    metas: list[WorkshopMetadata] = []
    errors: list[FailedCall] = []
    chunks = list(batches(ids))
    for number, batch in enumerate(chunks, start=1):
        try:
            metas.extend(fetch_metadata_batch(batch))
        except SteamAPIError as exc:
            errors.append(
                FailedCall.of(exc, f"{exc} (batch {number} of {len(chunks)}: items {batch[0]}…{batch[-1]})")
            )
            ctx.log_stderr(
                f"metadata batch {number} of {len(chunks)} failed, its items keep their data: {exc}"
            )
        ctx.progress(items_done=min(len(ids), number * BATCH_SIZE))
    ctx.log_stdout(f"fetched metadata for {len(metas)} items in {len(chunks)} request(s)")
    return metas, errors


@transaction.atomic
def _store_refresh(
    metas: list[WorkshopMetadata],
    linked: dict[int, set[str]],
    followed: list[OverlayWorkshopCollection],
    children: dict[str, list[str]],
    ctx: JobContext,
    *,
    complete: bool,
) -> RefreshResult:
    before = {
        sid: (updated, size)
        for sid, updated, size in WorkshopItem.objects.filter(
            steam_id__in=[m.steam_id for m in metas]
        ).values_list("steam_id", "time_updated", "file_size")
    }
    collections = {c.steam_id for c in followed}  # looked up for their titles only
    rows = items_store_metadata(
        m for m in metas if m.steam_id in before or (is_game_item(m) and m.steam_id not in collections)
    )
    by_id = {m.steam_id: m for m in metas}
    new_links = _follow_children(followed, children, by_id, rows, linked, ctx, complete=complete)
    return _affected(rows, before, linked, new_links)


def _follow_children(
    followed: list[OverlayWorkshopCollection],
    children: dict[str, list[str]],
    metas: dict[str, WorkshopMetadata],
    rows: dict[str, WorkshopItem],
    linked: dict[int, set[str]],
    ctx: JobContext,
    *,
    complete: bool,
) -> dict[int, set[str]]:
    """Link the usable children of followed collections (not excluded, as far as the overlay has
    room and its owner's byte quota allows); report the ones left out. A collection Steam did not expand is left as it was; what
    it holds and how many it leaves out are rewritten only when every batch answered
    (`complete`). Returns overlay id -> newly linked ids."""
    for collection in followed:
        title = metas[collection.steam_id].title if collection.steam_id in metas else ""
        if title and title != collection.title:
            collection.title = title
            collection.save(update_fields=["title"])
        if collection.steam_id not in children:
            continue
        kids = [metas[sid] for sid in children[collection.steam_id] if sid in metas]
        usable, left_out = usable_children(collection.steam_id, kids)
        _, over = collection_link_children(
            collection=collection,
            items=[rows[m.steam_id] for m in usable if m.steam_id in rows],
            unusable=len(left_out) if complete else None,
        )
        for line in [*left_out, *over]:
            ctx.log_stderr(f"overlay '{collection.overlay.name}': {line}")
    now = _linked_ids({c.overlay_id for c in followed})
    return {oid: ids - linked.get(oid, set()) for oid, ids in now.items() if ids - linked.get(oid, set())}


def _affected(
    rows: dict[str, WorkshopItem],
    before: dict[str, tuple[int, int]],
    linked: dict[int, set[str]],
    new_links: dict[int, set[str]],
) -> RefreshResult:
    result = RefreshResult(items=len(rows), new=sum(len(ids) for ids in new_links.values()))
    # Only this host's cache is on this machine; the other hosts check theirs (_ask_other_hosts).
    here = set(
        Overlay.objects.filter(pk__in=list(linked), host__name=settings.LEFT4ME_HOST).values_list(
            "pk", flat=True
        )
    )
    in_use_here = {sid for oid in here for sid in linked[oid]}
    for sid, row in rows.items():
        if sid in before and (row.time_updated, row.file_size) != before[sid]:
            result.changed.add(sid)
        elif sid in in_use_here and row.file_url and row.cache_state() != CacheState.CACHED:
            result.missing.add(sid)
    result.overlays = {oid for oid, ids in linked.items() if ids & result.changed}
    result.overlays |= {oid for oid in here if linked[oid] & result.missing}
    result.overlays |= set(new_links)
    return result
