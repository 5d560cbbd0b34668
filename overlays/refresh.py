"""Refresh from Steam: fresh details of the items in use, new children of remembered
collections, and builds for the overlays whose files must change."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from jobs.runner import JobCancelled, JobContext, JobFailed, JobRetryable
from overlays.build import overlay_build
from overlays.items import collection_link_children, items_skips_end, usable_children
from overlays.models import Overlay, OverlayWorkshopCollection, OverlayWorkshopItem
from overlays.signals import items_gone_upstream
from workshop.cache import CacheState
from workshop.models import WorkshopItem
from workshop.services import WRITE_BATCH, is_game_item, items_store_metadata
from workshop.steam import (
    BATCH_SIZE,
    CollectionLimitError,
    MetadataBatch,
    SteamAPIError,
    WorkshopMetadata,
    expand_collections,
    fetch_metadata_batches,
)

STORE_ITEMS = WRITE_BATCH  # records stored in one transaction (5 batches of Steam's answers)
IDS_PER_QUERY = 500  # ids in one IN (...): SQLite takes at most 999 parameters

T = TypeVar("T")


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
    result = items_refresh(overlay_ids=[overlay.pk], ctx=ctx)
    if result.fetched:  # Steam answered something: build with it, then say what failed
        overlay_build(overlay=overlay, ctx=ctx)
    refresh_errors_raise(result)


def refresh_errors_raise(result: RefreshResult) -> None:
    """Fail naming the failed calls; when each may pass (Steam kept failing), the job is retried."""
    if result.errors:
        error = JobRetryable if all(call.transient for call in result.errors) else JobFailed
        raise error(f"steam api error: {'; '.join(call.why for call in result.errors)}")


def items_refresh(*, overlay_ids: list[int] | None, ctx: JobContext) -> RefreshResult:
    """Fresh metadata from Steam for the items of `overlay_ids` (None: every item in use) and
    their collections' new items; the result names the overlays whose files must change."""
    followed = _followed(overlay_ids)
    children, errors = _expand(followed, ctx)
    collections = {c.steam_id for c in followed}
    members = {sid for kids in children.values() for sid in kids}
    wanted = sorted(_linked_steam_ids(overlay_ids) | members | collections)
    followers = {c.overlay_id for c in followed}
    linked = linked_ids(followers)  # before the refresh links new children
    result, kept = _fetch_and_store(wanted, overlay_ids, ctx, collections=collections, keep=members)
    new_links = (
        _store_children(followed, children, kept, linked, ctx, complete=not result.errors) if followed else {}
    )
    result.new = sum(len(ids) for ids in new_links.values())
    result.overlays |= set(new_links)
    result.errors = errors + result.errors
    ctx.log_stdout(
        f"workshop refresh: items={result.items} changed={len(result.changed)} "
        f"missing={len(result.missing)} new={result.new} overlays={len(result.overlays)}"
        + (f" failed_calls={len(result.errors)}" if result.errors else "")
    )
    return result


def _linked_steam_ids(overlay_ids: list[int] | None) -> set[str]:
    links = OverlayWorkshopItem.objects.all()
    if overlay_ids is not None:
        links = links.filter(overlay_id__in=overlay_ids)
    return set(links.order_by().values_list("item__steam_id", flat=True).distinct())


def linked_ids(overlay_ids: Iterable[int]) -> dict[int, set[str]]:
    linked: dict[int, set[str]] = defaultdict(set)
    for pks in chunks(sorted(overlay_ids)):
        links = OverlayWorkshopItem.objects.filter(overlay_id__in=pks)
        for overlay_id, steam_id in links.values_list("overlay_id", "item__steam_id"):
            linked[overlay_id].add(steam_id)
    return linked


def chunks(values: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(values), IDS_PER_QUERY):
        yield values[start : start + IDS_PER_QUERY]


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
        limit = settings.WORKSHOP_COLLECTION_MAX_ITEMS * len(ids)
        return expand_collections(ids, max_children=limit, dropped=ctx.log_stderr), []
    except CollectionLimitError:
        pass
    except SteamAPIError as exc:
        ctx.log_stderr(f"collections not expanded: {exc}")
        return {}, [FailedCall.of(exc)]
    children: dict[str, list[str]] = {}
    errors: list[FailedCall] = []
    for collection_id in ids:
        try:
            children |= expand_collections([collection_id], dropped=ctx.log_stderr)
        except CollectionLimitError as exc:
            ctx.log_stderr(f"collection {collection_id} not expanded: {exc}")
        except SteamAPIError as exc:
            ctx.log_stderr(f"collection {collection_id} not expanded: {exc}")
            errors.append(FailedCall.of(exc))
    return children, errors


def _fetch_and_store(
    ids: list[str], overlay_ids: list[int] | None, ctx: JobContext, *, collections: set[str], keep: set[str]
) -> tuple[RefreshResult, dict[str, WorkshopMetadata]]:
    """Metadata in batches, WORKSHOP_API_CONCURRENCY at once, stored as they come (STORE_ITEMS
    at a time, each store a short transaction of its own), so the refresh holds a few batches
    whatever its size. A batch that fails for good is named and skipped: its items keep their
    old data. Returns the result so far and the records of the followed ``collections`` and of
    the ``keep`` ids (their children), which are linked once every batch is in.

    Batches come back in any order; each is stored by itself, so the order changes nothing.
    A cancel stops asking Steam at once; what was stored stays (an item stored but not yet
    downloaded is stale in the cache, so the next refresh still rebuilds its overlays)."""
    result = RefreshResult()
    kept: dict[str, WorkshopMetadata] = {}
    failed: list[tuple[int, FailedCall]] = []
    pending: list[WorkshopMetadata] = []
    ctx.progress(items_done=0, items_total=len(ids))
    answers = fetch_metadata_batches(
        ids, concurrency=settings.WORKSHOP_API_CONCURRENCY, should_stop=ctx.should_cancel
    )
    with closing(answers):
        for batch in answers:
            if batch.error is not None:
                failed.append((batch.number, _batch_failed(batch, batch.error, ctx)))
            pending.extend(batch.metas)
            kept |= {m.steam_id: m for m in batch.metas if m.steam_id in keep or m.steam_id in collections}
            if len(pending) >= STORE_ITEMS:
                _store_batch(pending, result, overlay_ids, collections)
                pending = []
            result.fetched += len(batch.metas)
            ctx.progress(items_done=min(len(ids), result.fetched + BATCH_SIZE * len(failed)))
    if ctx.should_cancel():
        raise JobCancelled("cancelled while asking steam")
    _store_batch(pending, result, overlay_ids, collections)
    result.errors = [call for _, call in sorted(failed, key=lambda numbered: numbered[0])]
    requests = -(-len(ids) // BATCH_SIZE)
    ctx.log_stdout(f"fetched metadata for {result.fetched} items in {requests} request(s)")
    return result, kept


def _batch_failed(batch: MetadataBatch, error: SteamAPIError, ctx: JobContext) -> FailedCall:
    where = f"batch {batch.number} of {batch.total}"
    ctx.log_stderr(f"metadata {where} failed, its items keep their data: {error}")
    return FailedCall.of(error, f"{error} ({where}: items {batch.ids[0]}…{batch.ids[-1]})")


@transaction.atomic
def _store_batch(
    metas: list[WorkshopMetadata], result: RefreshResult, overlay_ids: list[int] | None, collections: set[str]
) -> None:
    """Store the records of items already known, and of new items of the game (the children of
    followed collections) that are no collection; add what changed and who holds it to ``result``.
    An item missing from the cache counts for the overlays on this host only: the cache of
    another host is not on this machine (it checks its own, _ask_other_hosts)."""
    if not metas:
        return
    known = list(
        WorkshopItem.objects.filter(steam_id__in=[m.steam_id for m in metas]).values_list(*_COMPARED)
    )
    before = {sid: (updated, size) for sid, updated, size, _url in known}
    served = {sid for sid, _updated, _size, url in known if url}
    rows = items_store_metadata(
        m for m in metas if m.steam_id in before or (is_game_item(m) and m.steam_id not in collections)
    )
    result.items += len(rows)
    changed: set[str] = set()
    missing: set[str] = set()
    for sid, row in rows.items():
        if sid in before and (row.time_updated, row.file_size) != before[sid]:
            changed.add(sid)
        elif row.file_url and row.cache_state() != CacheState.CACHED:
            missing.add(sid)
    result.changed |= changed
    result.missing |= missing
    result.overlays |= _holders(changed, missing, overlay_ids)
    result.overlays |= items_skips_end(items=[rows[sid] for sid in changed])  # any overlay's skip
    _tell_gone_upstream({sid for sid in served if sid in rows and not rows[sid].file_url}, overlay_ids)


_COMPARED = ("steam_id", "time_updated", "file_size", "file_url")


def _tell_gone_upstream(steam_ids: set[str], overlay_ids: list[int] | None) -> None:
    """Items Steam served and serves no more (removed, hidden or banned): their owners are told."""
    if not steam_ids:
        return
    links = OverlayWorkshopItem.objects.filter(item__steam_id__in=steam_ids)
    if overlay_ids is not None:
        links = links.filter(overlay_id__in=overlay_ids)
    holders = sorted(set(links.order_by().values_list("overlay_id", flat=True)))
    if holders:
        items_gone_upstream.send(sender=Overlay, steam_ids=sorted(steam_ids), overlay_ids=holders)


def _holders(changed: set[str], missing: set[str], overlay_ids: list[int] | None) -> set[int]:
    """The overlays (among ``overlay_ids``) that link a changed item, or a missing one on this host."""
    if not changed and not missing:
        return set()
    here = Q(item__steam_id__in=missing, overlay__host__name=settings.LEFT4ME_HOST)
    links = OverlayWorkshopItem.objects.filter(Q(item__steam_id__in=changed) | here)
    if overlay_ids is not None:
        links = links.filter(overlay_id__in=overlay_ids)
    return set(links.order_by().values_list("overlay_id", flat=True).distinct())


@transaction.atomic
def _store_children(
    followed: list[OverlayWorkshopCollection],
    children: dict[str, list[str]],
    metas: dict[str, WorkshopMetadata],
    linked: dict[int, set[str]],
    ctx: JobContext,
    *,
    complete: bool,
) -> dict[int, set[str]]:
    """Link the new children of followed collections (see _follow_children); returns overlay
    id -> newly linked ids."""
    wanted = [sid for kids in children.values() for sid in kids if sid in metas]
    rows = WorkshopItem.objects.in_bulk(list(dict.fromkeys(wanted)), field_name="steam_id")
    _follow_children(followed, children, metas, rows, ctx, complete=complete)
    now = linked_ids({c.overlay_id for c in followed})
    return {oid: ids - linked.get(oid, set()) for oid, ids in now.items() if ids - linked.get(oid, set())}


def _follow_children(
    followed: list[OverlayWorkshopCollection],
    children: dict[str, list[str]],
    metas: dict[str, WorkshopMetadata],
    rows: dict[str, WorkshopItem],
    ctx: JobContext,
    *,
    complete: bool,
) -> None:
    """Link the usable children of followed collections (not excluded, as far as the overlay has
    room and its owner's byte quota allows); report the ones left out. A collection Steam did not expand is left as it was; what
    it holds and how many it leaves out are rewritten only when every batch answered
    (`complete`)."""
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
