"""Overlays: create and delete them, queue their jobs (their items: overlays.items)."""

from __future__ import annotations

import shutil
import unicodedata

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from jobs.models import Job
from jobs.services import job_cancel, job_enqueue
from overlays.models import Overlay
from overlays.quotas import quota_of

# The job operations of overlays (declared with their policy in overlays.tasks).
BUILD_OVERLAY = "build_overlay"
REFRESH_OVERLAY = "refresh_overlay"
REFRESH_WORKSHOP_ITEMS = "refresh_workshop_items"
COLLECT_WORKSHOP_CACHE = "collect_workshop_cache"
DELETE_OVERLAY = "delete_overlay"
REINDEX_WORKSHOP_CONTENTS = "reindex_workshop_contents"
# Work that writes an overlay's files: one at a time per overlay.
FILE_OPERATIONS = (BUILD_OVERLAY, REFRESH_OVERLAY)
# What a delete cancels first.
BUILD_OPERATIONS = (BUILD_OVERLAY, REFRESH_OVERLAY)

NAME_MAX = Overlay._meta.get_field("name").max_length or 100


class OverlayError(ValueError):
    """A user-facing reason why an overlay action was refused."""


# --- overlays ---------------------------------------------------------------------------


@transaction.atomic
def overlay_create(*, owner: User, name: str) -> Overlay:
    name = overlay_create_check(owner=owner, name=name, lock=True)
    overlay = Overlay.objects.create(owner=owner, name=name, kind=Overlay.Kind.WORKSHOP)
    overlay.addons_path.mkdir(parents=True, exist_ok=True)
    return overlay


def overlay_create_check(*, owner: User, name: str, lock: bool = False) -> str:
    """The name `owner` may give a new overlay (stripped), or OverlayError saying why not: the
    checks of overlay_create, also for forms that want to show them before saving."""
    name = name.strip()
    if not name:
        raise OverlayError("name is required")
    if len(name) > NAME_MAX:
        raise OverlayError(f"name is too long: {len(name)} characters (at most {NAME_MAX})")
    # Cf: bidi overrides and zero-width characters, which make a name read as another.
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in name):
        raise OverlayError("name must not contain control or format characters")
    quota = quota_of(owner, lock=lock)
    if quota.overlays_full:
        raise OverlayError(
            f"quota reached: at most {quota.max_overlays} overlays, you have {quota.used_overlays}"
        )
    if Overlay.objects.filter(owner=owner, name=name).exists():
        raise OverlayError(f"you already have an overlay named {name!r}")
    return name


@transaction.atomic
def overlay_delete_enqueue(*, overlay: Overlay, user: User | None) -> Job:
    """Hide the overlay at once, cancel its builds, and queue the job that removes its folder
    (after any build still running has stopped) and then its row."""
    Overlay.objects.filter(pk=overlay.pk).update(deleting=True)
    builds = Job.objects.of(overlay).filter(operation__in=BUILD_OPERATIONS, state__in=Job.ACTIVE_STATES)
    for build in builds:
        job_cancel(job=build)
    job, _created = job_enqueue(
        operation=DELETE_OVERLAY, subject=overlay, owner=overlay.owner, user=user, reason="delete"
    )
    return job


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


def build_enqueue(*, overlay: Overlay, user: User | None, reason: str) -> Job:
    """The overlay's build; `reason` says why ("added 3 items") and joins those of a build that
    is still queued."""
    job, _created = job_enqueue(
        operation=BUILD_OVERLAY, subject=overlay, owner=overlay.owner, user=user, reason=reason
    )
    return job


def overlay_refresh_enqueue(*, overlay: Overlay, user: User | None) -> tuple[Job, bool]:
    if not overlay.workshop_links.exists() and not overlay.workshop_collections.exists():
        raise OverlayError("overlay has no items")
    return job_enqueue(
        operation=REFRESH_OVERLAY, subject=overlay, owner=overlay.owner, user=user, reason="refresh"
    )


def global_refresh_enqueue() -> tuple[Job, bool]:
    """The one entry point of the CLI, celery-beat and the admin: coalesces with a live one."""
    return job_enqueue(operation=REFRESH_WORKSHOP_ITEMS)


def cache_collect_enqueue(*, user: User | None) -> tuple[Job, bool]:
    """Garbage collection of the workshop cache, as a job (the daily schedule and *Collect now*)."""
    return job_enqueue(operation=COLLECT_WORKSHOP_CACHE, user=user)


def contents_reindex_enqueue() -> tuple[Job, bool]:
    """Read every cached upload's VPK again (`manage.py workshop_inspect --reindex`)."""
    return job_enqueue(operation=REINDEX_WORKSHOP_CONTENTS)


def latest_file_job(overlay: Overlay) -> Job | None:
    return Job.objects.of(overlay).filter(operation__in=FILE_OPERATIONS).order_by("-id").first()
