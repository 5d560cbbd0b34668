"""The workshop items of an overlay: add (items and collections, mixed), remove, include again,
unfollow a collection. Each link records where it came from: added directly, through followed
collections, or both; an item the owner removed while a collection still holds it is excluded,
so no refresh brings it back."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.shortcuts import get_object_or_404

from jobs.models import Job, JobLogLine
from jobs.services import job_log
from left4me.units import counted, human_bytes
from overlays.models import (
    Overlay,
    OverlayCollectionItem,
    OverlayWorkshopCollection,
    OverlayWorkshopExclusion,
    OverlayWorkshopItem,
)
from overlays.quotas import items_new_to, quota_fit, quota_of
from overlays.services import OverlayError, build_enqueue
from overlays.signals import quota_near, skip_ended
from overlays.states import LinkState
from workshop.cache import kept_versions, link_name
from workshop.models import WorkshopItem, WorkshopItemContents
from workshop.parsing import WorkshopInputError, parse_workshop_input
from workshop.services import items_store_metadata
from workshop.steam import (
    RESULT_NOT_FOUND,
    CollectionLimitError,
    SteamAPIError,
    SteamBudget,
    SteamLimitError,
    WorkshopMetadata,
    expand_collections,
    fetch_metadata_batch,
    require_game_items,
)

INPUT_MODES = ("auto", "items", "collection")
QUOTA_NEAR = 0.9  # operators hear of a user whose add takes them past this share of their bytes
T = TypeVar("T")


@dataclass(frozen=True)
class LeftOut:
    steam_id: str
    why: str
    collection: str = ""  # the collection it came from, if any

    def __str__(self) -> str:
        if not self.steam_id:  # a count, not one item
            return self.why
        source = f" of collection {self.collection}" if self.collection else ""
        return f"workshop item {self.steam_id}{source} left out: {self.why}"


@dataclass
class AddResult:
    job: Job
    added: int = 0
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        return [str(item) for item in self.left_out]


@dataclass
class _Plan:
    """What an add will write, decided from Steam's answers before anything is written."""

    typed: list[WorkshopMetadata]
    collections: dict[str, list[WorkshopMetadata]]  # collection id -> its usable children, in order
    titles: dict[str, str]
    left_out: list[LeftOut]


# --- add ------------------------------------------------------------------------------


def items_add(*, overlay: Overlay, text: str, input_mode: str = "auto", user: User | None) -> AddResult:
    """Add the items and collections in `text` to `overlay` and enqueue its build.

    Every entry is looked up: a collection is expanded (its usable children added, the rest
    reported as left out) and followed; anything else is an item. Raises WorkshopInputError
    (bad entry, unknown item or another game's item typed in, a collection with nothing
    usable, a bound passed, a Steam API failure) before anything is written.
    """
    if input_mode not in INPUT_MODES:
        raise WorkshopInputError(f"unknown input mode: {input_mode!r}")
    ids = parse_workshop_input(text)
    plan = _plan_add(ids, input_mode)
    return _store_add(overlay=overlay, plan=plan, user=user)


def _plan_add(ids: list[str], input_mode: str) -> _Plan:
    budget = SteamBudget.for_add()
    children = _ask_steam(lambda: expand_collections(ids, budget=budget))
    if input_mode == "collection" and len(children) < len(ids):
        plain = [sid for sid in ids if sid not in children]
        raise WorkshopInputError(_not_collections(plain, budget))
    typed = [sid for sid in ids if sid not in children]
    members = list(dict.fromkeys(c for kids in children.values() for c in kids if c not in typed))
    metas = _ask_steam(lambda: fetch_metadata_batch([*typed, *members, *children], budget=budget))
    by_id = {meta.steam_id: meta for meta in metas}
    plan = _Plan(
        typed=_typed_items([by_id[sid] for sid in typed]),
        collections={},
        titles={cid: by_id[cid].title for cid in children if cid in by_id},
        left_out=[],
    )
    for collection_id, kids in children.items():
        usable, left_out = usable_children(collection_id, [by_id[k] for k in kids if k in by_id])
        plan.collections[collection_id] = usable
        plan.left_out += left_out
    if children and not plan.typed and not any(plan.collections.values()):
        raise WorkshopInputError(_nothing_usable(list(children), plan.left_out))
    return plan


def _not_collections(plain: list[str], budget: SteamBudget) -> str:
    """Why "Collections only" refuses ids that hold no items: an item typed in is named as one."""
    metas = _ask_steam(lambda: fetch_metadata_batch(plain, budget=budget))
    items = [meta for meta in metas if meta.ok and meta.file_url]
    if not items:
        return f"no workshop items in collection {', '.join(plain)}"
    named = ", ".join(f"{meta.steam_id} ({meta.title})" if meta.title else meta.steam_id for meta in items)
    noun = "is a workshop item" if len(items) == 1 else "are workshop items"
    return f'{named} {noun}, not a collection: add it with "Detect" or "Items"'


def _ask_steam(call: Callable[[], T]) -> T:
    """Steam's failure as the add's error: a bound passed is named as is, the rest is an API error."""
    try:
        return call()
    except (SteamLimitError, CollectionLimitError) as exc:
        raise WorkshopInputError(str(exc)) from exc
    except SteamAPIError as exc:
        raise WorkshopInputError(f"steam api error: {exc}") from exc


def _typed_items(metas: list[WorkshopMetadata]) -> list[WorkshopMetadata]:
    """Typed ids must be items Steam knows, of our game; the rest of their state is shown later."""
    unknown = [m.steam_id for m in metas if not m.found or m.result == RESULT_NOT_FOUND]
    if unknown:
        raise WorkshopInputError(f"no such workshop item: {', '.join(unknown)}")
    require_game_items(metas)
    return metas


def usable_children(
    collection_id: str, metas: Iterable[WorkshopMetadata]
) -> tuple[list[WorkshopMetadata], list[LeftOut]]:
    """A collection's children split into those left4me can download and those left out (why)."""
    usable: list[WorkshopMetadata] = []
    left_out: list[LeftOut] = []
    for meta in metas:
        if meta.problem:
            left_out.append(LeftOut(meta.steam_id, meta.problem, collection_id))
        else:
            usable.append(meta)
    return usable, left_out


def _nothing_usable(collection_ids: list[str], left_out: list[LeftOut]) -> str:
    shown = ", ".join(f"{item.steam_id} ({item.why})" for item in left_out[:10])
    more = f" and {len(left_out) - 10} more" if len(left_out) > 10 else ""
    named = ", ".join(collection_ids)
    if not left_out:
        return f"no workshop items in collection {named}"
    return f"nothing to add from collection {named}: every item was left out: {shown}{more}"


@transaction.atomic
def _store_add(*, overlay: Overlay, plan: _Plan, user: User | None) -> AddResult:
    rows = items_store_metadata([*plan.typed, *(m for kids in plan.collections.values() for m in kids)])
    typed = [rows[m.steam_id] for m in plan.typed]
    _check_room(overlay, typed)
    _check_quota(overlay, typed, [rows[m.steam_id] for kids in plan.collections.values() for m in kids])
    OverlayWorkshopExclusion.objects.filter(overlay=overlay, item__in=typed).delete()
    link_items(overlay=overlay, items=typed, direct=True)
    added = len(typed)
    left_out = list(plan.left_out)
    for collection_id, kids in plan.collections.items():
        collection = collection_follow(
            overlay=overlay, steam_id=collection_id, title=plan.titles.get(collection_id, "")
        )
        unusable = sum(1 for item in plan.left_out if item.collection == collection_id)
        linked, over = collection_link_children(
            collection=collection, items=[rows[m.steam_id] for m in kids], unusable=unusable
        )
        added += linked
        left_out += over
    job = build_enqueue(overlay=overlay, user=user, reason=_add_reason(plan))
    for line in left_out:
        job_log(job_id=job.pk, text=str(line), stream=JobLogLine.Stream.STDERR)
    return AddResult(job=job, added=added, left_out=left_out)


def _add_reason(plan: _Plan) -> str:
    """ "added 3 items and followed collection Best maps": why the add's build was queued."""
    parts = [f"added {counted(len(plan.typed), 'item')}"] if plan.typed else []
    parts += [f"followed collection {plan.titles.get(cid) or cid}" for cid in plan.collections]
    return " and ".join(parts)


def _named(links: list[OverlayWorkshopItem]) -> str:
    """The one item by its title (else its id), or how many."""
    if len(links) == 1:
        return links[0].item.title or links[0].item.steam_id
    return counted(len(links), "item")


def _check_room(overlay: Overlay, typed: list[WorkshopItem]) -> None:
    limit = settings.WORKSHOP_MAX_ITEMS_PER_OVERLAY
    linked = set(overlay.workshop_links.values_list("item_id", flat=True))
    have, new = len(linked), len({item.pk for item in typed} - linked)
    if have + new > limit:
        raise WorkshopInputError(
            f"an overlay holds at most {limit} workshop items: this one has {have}, the add would make {have + new}"
        )


def _check_quota(overlay: Overlay, typed: list[WorkshopItem], children: list[WorkshopItem]) -> None:
    """Refuse an add whose items new to the owner would take them past their byte limit (the
    children the owner excluded from this overlay stay out, so they cost nothing)."""
    quota = quota_of(overlay.owner, lock=True)
    if quota.max_bytes is None:
        return
    excluded = set(OverlayWorkshopExclusion.objects.filter(overlay=overlay).values_list("item_id", flat=True))
    excluded -= {item.pk for item in typed}  # typing an item includes it again
    wanted = [*typed, *(item for item in children if item.pk not in excluded)]
    more = sum(item.file_size for item in items_new_to(overlay.owner, wanted))
    if more and quota.used_bytes + more > quota.max_bytes:
        raise WorkshopInputError(
            f"quota reached: at most {human_bytes(quota.max_bytes)} of workshop items, "
            f"you use {human_bytes(quota.used_bytes)}, this add needs {human_bytes(more)}"
        )
    near = quota.max_bytes * QUOTA_NEAR
    if quota.used_bytes < near <= quota.used_bytes + more:
        quota_near.send(
            sender=Overlay, user=overlay.owner, used=quota.used_bytes + more, limit=quota.max_bytes
        )


def link_items(*, overlay: Overlay, items: Iterable[WorkshopItem], direct: bool = True) -> None:
    """Link `items`; with direct=True an existing link becomes direct too."""
    items = list(items)
    OverlayWorkshopItem.objects.bulk_create(
        [OverlayWorkshopItem(overlay=overlay, item=item, direct=direct) for item in items],
        ignore_conflicts=True,
    )
    if direct:
        OverlayWorkshopItem.objects.filter(overlay=overlay, item__in=items, direct=False).update(direct=True)


def collection_follow(*, overlay: Overlay, steam_id: str, title: str) -> OverlayWorkshopCollection:
    collection, created = OverlayWorkshopCollection.objects.get_or_create(
        overlay=overlay, steam_id=steam_id, defaults={"title": title}
    )
    if not created and title and collection.title != title:
        collection.title = title
        collection.save(update_fields=["title"])
    return collection


def collection_link_children(
    *, collection: OverlayWorkshopCollection, items: list[WorkshopItem], unusable: int | None = 0
) -> tuple[int, list[LeftOut]]:
    """Record that the collection holds `items` and link those the owner did not exclude, as far as
    the overlay has room (WORKSHOP_MAX_ITEMS_PER_OVERLAY) and the owner's byte quota allows (in
    collection order); returns (newly linked, left out).

    With `unusable` given, `items` is the whole collection as Steam lists it now: members it no
    longer holds are forgotten and it notes how many children are left out (the unusable ones
    and those past a limit). None: Steam answered only in part, so only additions are kept."""
    overlay = collection.overlay
    if unusable is not None:
        collection.members.exclude(item__in=items).delete()
    OverlayCollectionItem.objects.bulk_create(
        [OverlayCollectionItem(collection=collection, item=item) for item in items], ignore_conflicts=True
    )
    excluded = set(OverlayWorkshopExclusion.objects.filter(overlay=overlay).values_list("item_id", flat=True))
    linked = set(OverlayWorkshopItem.objects.filter(overlay=overlay).values_list("item_id", flat=True))
    wanted = [item for item in items if item.pk not in excluded and item.pk not in linked]
    limit = settings.WORKSHOP_MAX_ITEMS_PER_OVERLAY
    room = max(0, limit - len(linked))
    fits, past_quota, quota_why = _within_quota(overlay, wanted[:room])
    link_items(overlay=overlay, items=fits, direct=False)
    counts = {f"an overlay holds at most {limit} workshop items": len(wanted[room:]), quota_why: past_quota}
    left = {why: count for why, count in counts.items() if count}
    if unusable is not None and collection.left_out != unusable + sum(left.values()):
        collection.left_out = unusable + sum(left.values())
        collection.save(update_fields=["left_out"])
    return len(fits), [
        LeftOut(
            "",
            f"{counted(count, 'item')} of collection {collection.steam_id} left out: {why}",
            collection.steam_id,
        )
        for why, count in left.items()
    ]


def _within_quota(overlay: Overlay, items: list[WorkshopItem]) -> tuple[list[WorkshopItem], int, str]:
    """The items the owner's byte quota has room for (in order), how many it has not, and why."""
    if not items:
        return [], 0, ""
    quota = quota_of(overlay.owner, lock=True)
    fits, rest = quota_fit(quota, items)
    return fits, len(rest), f"the owner's quota of {human_bytes(quota.max_bytes or 0)} is reached"


# --- remove, include again, unfollow ------------------------------------------------------


def item_remove(*, overlay: Overlay, steam_id: str, user: User | None) -> Job:
    return items_remove(overlay=overlay, steam_ids=[steam_id], user=user)


@transaction.atomic
def items_remove(*, overlay: Overlay, steam_ids: list[str], user: User | None) -> Job:
    """Unlink the items, with one build that removes their symlinks (the cache files stay). An
    item a followed collection holds is excluded, so no refresh brings it back. Raises
    OverlayError, changing nothing, when an id is not in the overlay."""
    links = _links_of(overlay, steam_ids)
    item_ids = [link.item_id for link in links]
    held = OverlayCollectionItem.objects.filter(collection__overlay=overlay, item_id__in=item_ids)
    OverlayWorkshopExclusion.objects.bulk_create(
        [
            OverlayWorkshopExclusion(overlay=overlay, item_id=item_id)
            for item_id in set(held.values_list("item_id", flat=True))
        ],
        ignore_conflicts=True,
    )
    OverlayWorkshopItem.objects.filter(pk__in=[link.pk for link in links]).delete()
    return build_enqueue(overlay=overlay, user=user, reason=f"removed {_named(links)}")


def item_include(*, overlay: Overlay, steam_id: str, user: User | None) -> Job:
    return items_include(overlay=overlay, steam_ids=[steam_id], user=user)


@transaction.atomic
def items_include(*, overlay: Overlay, steam_ids: list[str], user: User | None) -> Job:
    """Undo exclusions (one build for all): each item is linked again through the collections
    that hold it. OverlayError, changing nothing, when an id is not excluded; WorkshopInputError
    when the items would take the owner past their byte quota."""
    wanted = list(dict.fromkeys(steam_ids))
    exclusions = {
        e.item.steam_id: e
        for e in OverlayWorkshopExclusion.objects.select_related("item").filter(
            overlay=overlay, item__steam_id__in=wanted
        )
    }
    unknown = [sid for sid in wanted if sid not in exclusions]
    if unknown:
        raise OverlayError(f"workshop item {unknown[0]} is not excluded from this overlay")
    found = [exclusions[sid] for sid in wanted]
    OverlayWorkshopExclusion.objects.filter(pk__in=[e.pk for e in found]).delete()
    held = set(
        OverlayCollectionItem.objects.filter(
            collection__overlay=overlay, item_id__in=[e.item_id for e in found]
        ).values_list("item_id", flat=True)
    )
    items = [e.item for e in found if e.item_id in held]
    if items:
        _check_quota(overlay, items, [])
        link_items(overlay=overlay, items=items, direct=False)
    named = found[0].item.title or found[0].item.steam_id if len(found) == 1 else counted(len(found), "item")
    return build_enqueue(overlay=overlay, user=user, reason=f"included {named}")


def unfollow_keeps(choice: str) -> bool:
    """Whether an unfollow keeps the collection's items, from the owner's "keep" or "remove"."""
    if choice not in ("keep", "remove"):
        raise OverlayError("choose whether to keep or remove the collection's items")
    return choice == "keep"


def collection_item_exclude(*, overlay: Overlay, collection_id: str, steam_id: str, user: User | None) -> Job:
    """Leave one item of a followed collection out of the overlay: removed and excluded, as the
    overlay page's remove does, so no refresh brings it back."""
    _check_member(overlay, collection_id, steam_id)
    return items_remove(overlay=overlay, steam_ids=[steam_id], user=user)


def collection_item_include(*, overlay: Overlay, collection_id: str, steam_id: str, user: User | None) -> Job:
    """Take back an item of a followed collection that was left out (item_include)."""
    _check_member(overlay, collection_id, steam_id)
    return item_include(overlay=overlay, steam_id=steam_id, user=user)


def _check_member(overlay: Overlay, collection_id: str, steam_id: str) -> None:
    """OverlayError unless the overlay follows the collection and the collection holds the item."""
    collection = OverlayWorkshopCollection.objects.filter(overlay=overlay, steam_id=collection_id).first()
    if collection is None:
        raise OverlayError(f"collection {collection_id} is not followed by this overlay")
    if not collection.members.filter(item__steam_id=steam_id).exists():
        raise OverlayError(f"workshop item {steam_id} is not in collection {collection_id}")


@transaction.atomic
def collection_unfollow(*, overlay: Overlay, steam_id: str, keep_items: bool, user: User | None) -> Job:
    """Stop following a collection. Its items that no other followed collection holds either
    stay as direct items (keep_items) or leave the overlay, unless the owner added them directly."""
    collection = OverlayWorkshopCollection.objects.filter(overlay=overlay, steam_id=steam_id).first()
    if collection is None:
        raise OverlayError(f"collection {steam_id} is not followed by this overlay")
    only_here = _only_brought_by(collection)
    links = OverlayWorkshopItem.objects.filter(overlay=overlay, item_id__in=only_here)
    if keep_items:
        links.update(direct=True)
    else:
        links.filter(direct=False).delete()
    collection.delete()
    OverlayWorkshopExclusion.objects.filter(overlay=overlay, item_id__in=only_here).delete()
    reason = f"unfollowed {collection.title or steam_id}"
    return build_enqueue(overlay=overlay, user=user, reason=reason)


def _only_brought_by(collection: OverlayWorkshopCollection) -> set[int]:
    """The items of `collection` that no other collection the overlay follows holds."""
    others = OverlayCollectionItem.objects.filter(collection__overlay=collection.overlay_id).exclude(
        collection=collection
    )
    return set(collection.members.values_list("item_id", flat=True)) - set(
        others.values_list("item_id", flat=True)
    )


def unfollow_removes(*, overlay: Overlay) -> dict[int, int]:
    """collection id -> how many items unfollowing it with "remove its items" takes out of the
    overlay: those only it brought that the owner did not add directly (what the page asks to
    confirm). One query."""
    from_collections = OverlayWorkshopItem.objects.filter(overlay=overlay, direct=False).values("item_id")
    members = OverlayCollectionItem.objects.filter(collection__overlay=overlay, item_id__in=from_collections)
    holders: dict[int, list[int]] = defaultdict(list)
    for collection_id, item_id in members.values_list("collection_id", "item_id"):
        holders[item_id].append(collection_id)
    removes: dict[int, int] = defaultdict(int)
    for collections in holders.values():
        if len(collections) == 1:
            removes[collections[0]] += 1
    return removes


# --- versions: pin, roll back, unpin ------------------------------------------------------


def _link_of(overlay: Overlay, steam_id: str) -> OverlayWorkshopItem:
    return _links_of(overlay, [steam_id])[0]


def _links_of(overlay: Overlay, steam_ids: list[str]) -> list[OverlayWorkshopItem]:
    """The overlay's links of these items (with the items), in the order given; OverlayError
    naming the ids it does not hold."""
    wanted = list(dict.fromkeys(steam_ids))
    if not wanted:
        raise OverlayError("no workshop items chosen")
    links = OverlayWorkshopItem.objects.select_related("item").filter(
        overlay=overlay, item__steam_id__in=wanted
    )
    by_id = {link.item.steam_id: link for link in links}
    unknown = [sid for sid in wanted if sid not in by_id]
    if len(unknown) == 1:
        raise OverlayError(f"workshop item {unknown[0]} is not in this overlay")
    if unknown:
        raise OverlayError(f"workshop items {', '.join(unknown)} are not in this overlay")
    return [by_id[sid] for sid in wanted]


def linked_version(overlay: Overlay, link: OverlayWorkshopItem) -> int | None:
    """The upload the overlay's addons/ link holds now (its pin, else the cache file's)."""
    if link.pinned_version is not None:
        return link.pinned_version
    try:
        return int(os.stat(overlay.addons_path / link_name(link.item.steam_id)).st_mtime)
    except OSError:
        return None


def items_retry_failed(*, overlay: Overlay, user: User | None) -> tuple[Job, list[OverlayWorkshopItem]]:
    """A build that downloads again the items whose last download failed (a build tries every
    item not cached; this one says why it runs); OverlayError when none failed."""
    failed = list(
        OverlayWorkshopItem.objects.filter(overlay=overlay)
        .select_related("item")
        .in_state(LinkState.FAILED)
        .order_by("item__title", "item__steam_id")
    )
    if not failed:
        raise OverlayError(f"no item of {overlay.name} failed: nothing to retry")
    return build_enqueue(overlay=overlay, user=user, reason=f"retry {_named(failed)}"), failed


def earlier_upload(overlay: Overlay, link: OverlayWorkshopItem) -> int | None:
    """The newest upload kept in the cache before the one the overlay links (what Roll back
    switches to); None when there is none."""
    current = linked_version(overlay, link)
    earlier = [
        v
        for v in kept_versions(settings.WORKSHOP_CACHE_ROOT, link.item.steam_id)
        if current is None or v < current
    ]
    return earlier[0] if earlier else None


@dataclass(frozen=True)
class KeptUpload:
    """One upload of an item kept in the cache, as its history page shows it."""

    version: int  # Steam's time_updated of the upload
    contents: WorkshopItemContents | None  # None: not read (yet)
    newest: bool  # Steam's current upload
    linked: bool  # the one the overlay's addons/ holds
    pinned: bool
    skipped: bool

    @property
    def uploaded_at(self) -> datetime:
        """Steam's time of the upload."""
        return datetime.fromtimestamp(self.version, tz=UTC)


def history_link(overlay: Overlay, steam_id: str) -> OverlayWorkshopItem:
    """The overlay's link to the item whose history is asked for; Http404 when it has none."""
    return get_object_or_404(
        OverlayWorkshopItem.objects.select_related("item"), overlay=overlay, item__steam_id=steam_id
    )


def item_history(*, overlay: Overlay, link: OverlayWorkshopItem) -> list[KeptUpload]:
    """The item's kept uploads, newest first, each with what it holds and what changed against
    the one before (stored when it was read: no file is opened)."""
    kept = kept_versions(settings.WORKSHOP_CACHE_ROOT, link.item.steam_id)
    rows = WorkshopItemContents.objects.filter(item=link.item, version__in=kept).defer("paths", "sums")
    by_version = {row.version: row for row in rows}
    linked = linked_version(overlay, link)
    return [
        KeptUpload(
            version=version,
            contents=by_version.get(version),
            newest=version == link.item.time_updated,
            linked=version == linked,
            pinned=version == link.pinned_version,
            skipped=version == link.skipped_version,
        )
        for version in kept
    ]


def item_pin(*, overlay: Overlay, steam_id: str, user: User | None) -> Job:
    return items_pin(overlay=overlay, steam_ids=[steam_id], user=user)


@transaction.atomic
def items_pin(*, overlay: Overlay, steam_ids: list[str], user: User | None) -> Job:
    """Keep the overlay on the uploads it has: refreshes still record Steam's newer ones (the
    page says "update available"), but builds keep linking these, and they are never collected.
    One build for all; OverlayError, changing nothing, when an item is not in the overlay or has
    no downloaded upload yet."""
    links = _links_of(overlay, steam_ids)
    versions = {link.pk: linked_version(overlay, link) for link in links}
    root = settings.WORKSHOP_CACHE_ROOT
    missing = [
        link.item.steam_id
        for link in links
        if versions[link.pk] is None or versions[link.pk] not in kept_versions(root, link.item.steam_id)
    ]
    if len(missing) == 1:
        raise OverlayError(f"workshop item {missing[0]} has no downloaded upload to pin yet")
    if missing:
        raise OverlayError(f"workshop items {', '.join(missing)} have no downloaded upload to pin yet")
    for link in links:
        link.pinned_version = versions[link.pk]
    OverlayWorkshopItem.objects.bulk_update(links, ["pinned_version"])
    return build_enqueue(overlay=overlay, user=user, reason=f"pinned {_named(links)}")


@transaction.atomic
def item_rollback(*, overlay: Overlay, steam_id: str, user: User | None, version: int | None = None) -> Job:
    """Switch the overlay to a kept upload of the item and pin it: `version`, else the one
    before the upload it has."""
    link = _link_of(overlay, steam_id)
    target = earlier_upload(overlay, link) if version is None else version
    if target is None:
        raise OverlayError(f"no earlier upload of workshop item {steam_id} is kept")
    if target not in kept_versions(settings.WORKSHOP_CACHE_ROOT, steam_id):
        raise OverlayError(f"upload {target} of workshop item {steam_id} is not kept")
    link.pinned_version, link.skipped_version = target, None
    link.save(update_fields=["pinned_version", "skipped_version"])
    return build_enqueue(overlay=overlay, user=user, reason=f"rolled back {_named([link])}")


@transaction.atomic
def item_skip_upload(*, overlay: Overlay, steam_id: str, user: User | None) -> Job:
    """Skip Steam's newest upload of the item: stay on the kept upload before it until Steam
    has a newer one (items_skips_end then follows Steam again and tells the owner)."""
    link = _link_of(overlay, steam_id)
    newest = link.item.time_updated
    earlier = [v for v in kept_versions(settings.WORKSHOP_CACHE_ROOT, steam_id) if v < newest]
    if not earlier:
        raise OverlayError(f"no upload of workshop item {steam_id} before its newest is kept")
    job = item_rollback(overlay=overlay, steam_id=steam_id, user=user, version=earlier[0])
    OverlayWorkshopItem.objects.filter(pk=link.pk).update(skipped_version=newest)
    return job


def items_skips_end(*, items: Iterable[WorkshopItem]) -> set[int]:
    """The pins that skipped an upload of these items end where Steam now has a newer one: the
    links follow Steam again, and skip_ended tells each owner. Returns the overlays to build."""
    by_pk = {item.pk: item for item in items}
    links = OverlayWorkshopItem.objects.select_related("overlay").filter(
        item_id__in=list(by_pk), skipped_version__isnull=False
    )
    ended = [link for link in links if (link.skipped_version or 0) < by_pk[link.item_id].time_updated]
    for link in ended:
        skipped = link.skipped_version
        link.pinned_version = link.skipped_version = None
        link.save(update_fields=["pinned_version", "skipped_version"])
        skip_ended.send(sender=Overlay, overlay=link.overlay, item=by_pk[link.item_id], skipped=skipped)
    return {link.overlay_id for link in ended}


def item_unpin(*, overlay: Overlay, steam_id: str, user: User | None) -> Job:
    return items_unpin(overlay=overlay, steam_ids=[steam_id], user=user)


@transaction.atomic
def items_unpin(*, overlay: Overlay, steam_ids: list[str], user: User | None) -> Job:
    """Follow Steam again: the next build (one for all) links the newest uploads. Items not
    pinned are left as they are; OverlayError when an item is not in the overlay or none is pinned."""
    links = [link for link in _links_of(overlay, steam_ids) if link.pinned_version is not None]
    if not links:
        ids = list(dict.fromkeys(steam_ids))
        raise OverlayError(
            f"workshop item {ids[0]} is not pinned"
            if len(ids) == 1
            else "none of these workshop items is pinned"
        )
    for link in links:
        link.pinned_version = link.skipped_version = None
    OverlayWorkshopItem.objects.bulk_update(links, ["pinned_version", "skipped_version"])
    return build_enqueue(overlay=overlay, user=user, reason=f"unpinned {_named(links)}")
