"""Overlays: create and delete them, add and remove their workshop items, queue their jobs."""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from jobs.models import Job
from jobs.services import job_enqueue
from overlays.models import Overlay, OverlayWorkshopCollection, OverlayWorkshopItem
from workshop.models import WorkshopItem
from workshop.parsing import WorkshopInputError, parse_workshop_input
from workshop.services import items_store_metadata
from workshop.steam import (
    SteamAPIError,
    WorkshopMetadata,
    fetch_collection_children,
    fetch_metadata_batch,
    require_game_items,
)

T = TypeVar("T")

# The job operations of overlays (declared with their policy in overlays.tasks).
BUILD_OVERLAY = "build_overlay"
REFRESH_OVERLAY = "refresh_overlay"
REFRESH_WORKSHOP_ITEMS = "refresh_workshop_items"
# Work that writes an overlay's files: one at a time per overlay.
FILE_OPERATIONS = (BUILD_OVERLAY, REFRESH_OVERLAY)

INPUT_MODES = ("items", "collection")
NAME_MAX = Overlay._meta.get_field("name").max_length or 100


class OverlayError(ValueError):
    """A user-facing reason why an overlay action was refused."""


# --- overlays ---------------------------------------------------------------------------


@transaction.atomic
def overlay_create(*, owner: User, name: str) -> Overlay:
    name = name.strip()
    if not name:
        raise OverlayError("name is required")
    if len(name) > NAME_MAX:
        raise OverlayError(f"name is too long: {len(name)} characters (at most {NAME_MAX})")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in name):
        raise OverlayError("name must not contain control characters")
    if Overlay.objects.filter(owner=owner, name=name).exists():
        raise OverlayError(f"you already have an overlay named {name!r}")
    overlay = Overlay.objects.create(owner=owner, name=name, kind=Overlay.Kind.WORKSHOP)
    overlay.addons_path.mkdir(parents=True, exist_ok=True)
    return overlay


def overlay_delete(*, overlay: Overlay) -> None:
    """Remove the row (and its item links) and its folder; cache files are shared and stay."""
    path = overlay.path
    overlay.delete()
    # rmtree never follows symlinks, so the cache files the links point at survive.
    shutil.rmtree(path, ignore_errors=True)


# --- jobs -------------------------------------------------------------------------------


def files_queue(overlay: object) -> str:
    """Builds touch overlay files, so they run on the worker of the host that holds them."""
    return str(settings.LEFT4ME_WORKER_QUEUE)


def build_enqueue(*, overlay: Overlay, user: User | None) -> Job:
    job, _created = job_enqueue(operation=BUILD_OVERLAY, subject=overlay, owner=overlay.owner, user=user)
    return job


def overlay_refresh_enqueue(*, overlay: Overlay, user: User | None) -> tuple[Job, bool]:
    if not overlay.workshop_links.exists():
        raise OverlayError("overlay has no items")
    return job_enqueue(operation=REFRESH_OVERLAY, subject=overlay, owner=overlay.owner, user=user)


def global_refresh_enqueue() -> tuple[Job, bool]:
    """The one entry point of the CLI, celery-beat and the admin: coalesces with a live one."""
    return job_enqueue(operation=REFRESH_WORKSHOP_ITEMS)


def latest_file_job(overlay: Overlay) -> Job | None:
    return Job.objects.of(overlay).filter(operation__in=FILE_OPERATIONS).order_by("-id").first()


# --- add and remove items ---------------------------------------------------------------


def items_add(*, overlay: Overlay, text: str, input_mode: str, user: User | None) -> Job:
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
    children = steam_call(fetch_collection_children, collection_ids)
    if not children:
        raise WorkshopInputError(f"no workshop items in collection {', '.join(collection_ids)}")
    limit = settings.WORKSHOP_MAX_ENTRIES
    if len(children) > limit:
        raise WorkshopInputError(f"too many workshop items: {len(children)} (at most {limit} at once)")
    return children


def _fetch_for_add(ids: list[str]) -> list[WorkshopMetadata]:
    metas = steam_call(fetch_metadata_batch, ids)
    unknown = [m.steam_id for m in metas if not m.found or m.result == 9]
    if unknown:
        raise WorkshopInputError(f"no such workshop item: {', '.join(unknown)}")
    require_game_items(metas)
    return metas


def steam_call(
    call: Callable[[Sequence[str]], T], ids: Sequence[str], *, error: type[Exception] = WorkshopInputError
) -> T:
    """Call Steam; its failure becomes `error` ("steam api error: …"): bad input on add, a failed job on refresh."""
    try:
        return call(ids)
    except SteamAPIError as exc:
        raise error(f"steam api error: {exc}") from exc


@transaction.atomic
def _store_added(
    *, overlay: Overlay, metas: list[WorkshopMetadata], collections: list[str], user: User | None
) -> Job:
    items = items_store_metadata(metas)
    overlay_link_items(overlay=overlay, items=items.values())
    OverlayWorkshopCollection.objects.bulk_create(
        [OverlayWorkshopCollection(overlay=overlay, steam_id=sid) for sid in collections],
        ignore_conflicts=True,
    )
    return build_enqueue(overlay=overlay, user=user)


@transaction.atomic
def item_remove(*, overlay: Overlay, steam_id: str, user: User | None) -> Job:
    """Unlink the item; the build that follows removes its symlink (the cache file stays)."""
    deleted, _ = OverlayWorkshopItem.objects.filter(overlay=overlay, item__steam_id=steam_id).delete()
    if not deleted:
        raise OverlayError(f"workshop item {steam_id} is not in this overlay")
    return build_enqueue(overlay=overlay, user=user)


def overlay_link_items(*, overlay: Overlay, items: Iterable[WorkshopItem]) -> None:
    OverlayWorkshopItem.objects.bulk_create(
        [OverlayWorkshopItem(overlay=overlay, item=item) for item in items], ignore_conflicts=True
    )
