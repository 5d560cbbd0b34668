"""The job operations of overlays, each declared once with its policy, and the daily refresh."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from jobs.runner import JobCancelled, JobContext, JobFailed, JobRetryable, job_task
from left4me.models import Host
from overlays.build import overlay_build, overlay_remove_folder
from overlays.contents import overlay_contents_refresh
from overlays.gc import cache_collect
from overlays.models import Overlay
from overlays.refresh import host_cache_check, items_refresh_all, overlay_refresh
from overlays.services import (
    BUILD_OVERLAY,
    CLEAR_OVERLAY_FOLDER,
    COLLECT_WORKSHOP_CACHE,
    DELETE_OVERLAY,
    MOVE_OVERLAY,
    REFRESH_OVERLAY,
    REFRESH_WORKSHOP_ITEMS,
    REINDEX_WORKSHOP_CONTENTS,
    arrival_queue,
    build_enqueue,
    cache_collect_enqueue_all,
    files_queue,
    global_refresh_enqueue,
    old_folder_clear_enqueue,
    overlay_move_finish,
)
from workshop.contents import contents_reindex

# Builds and refreshes wait and run again when Steam or the network failed them (JobRetryable).
TRANSIENT = (JobRetryable,)


def _job_overlay(ctx: JobContext) -> Overlay:
    overlays = Overlay.objects.select_related("host", "moving_to")
    overlay = overlays.filter(pk=ctx.job.subject_id).first() if ctx.job.subject_id else None
    if overlay is None:
        raise JobFailed("overlay no longer exists")
    if overlay.deleting and ctx.job.operation != DELETE_OVERLAY:
        raise JobCancelled("the overlay is being deleted")
    return overlay


def _overlay_here(ctx: JobContext) -> Overlay:
    """The job's overlay, when its files are on this host. A build queued before the overlay
    moved is sent again to its new host's queue instead."""
    overlay = _job_overlay(ctx)
    if not overlay.host.is_here and overlay.host.job_queue != ctx.job.queue:
        job = build_enqueue(overlay=overlay, user=None, reason=f"moved to {overlay.host}")
        raise JobCancelled(f"the overlay is on host {overlay.host} now: job {job.pk} builds it there")
    return overlay


@job_task(
    BUILD_OVERLAY,
    verb="Build",
    coalesce="queued",
    exclusive_per="overlay files",
    queue=files_queue,
    retry_for=TRANSIENT,
)
def build_overlay(ctx: JobContext) -> None:
    overlay_build(overlay=_overlay_here(ctx), ctx=ctx)


@job_task(
    REFRESH_OVERLAY,
    verb="Refresh",
    coalesce="queued",
    exclusive_per="overlay files",
    queue=files_queue,
    retry_for=TRANSIENT,
)
def refresh_overlay(ctx: JobContext) -> None:
    overlay_refresh(overlay=_overlay_here(ctx), ctx=ctx)


@job_task(MOVE_OVERLAY, verb="Move", coalesce="active", exclusive_per="overlay files", queue=arrival_queue)
def move_overlay(ctx: JobContext) -> None:
    """Runs on the host the overlay goes to: build it there, then switch it over and queue the
    removal of its folder on the host it left. A failed or cancelled build leaves it where it was."""
    overlay = _job_overlay(ctx)
    if overlay.moving_to is None:
        raise JobFailed("the overlay is not moving")
    try:
        overlay_build(overlay=overlay, ctx=ctx)
        old, new = overlay_move_finish(overlay=overlay)
    except BaseException:
        overlay_remove_folder(overlay=overlay)
        Overlay.objects.filter(pk=overlay.pk, moving_to=overlay.moving_to).update(moving_to=None)
        raise
    job = old_folder_clear_enqueue(overlay=overlay, host=old)
    ctx.log_stdout(
        f"overlay '{overlay.name}' moved from host {old} to {new}; job {job.pk} removes its old folder"
    )


@job_task(CLEAR_OVERLAY_FOLDER, label="Remove old folder", verb="Remove the old folder of")
def clear_overlay_folder(ctx: JobContext) -> None:
    """On the host an overlay left: its folder goes (the row may be gone meanwhile)."""
    overlay = Overlay(pk=ctx.job.subject_id, host_id=None)
    left = overlay_remove_folder(overlay=overlay)
    for path in left:
        ctx.log_stderr(f"left in place (not made by left4me): {path}")
    ctx.log_stdout(f"removed the folder of overlay {ctx.job.subject_id} on host {settings.LEFT4ME_HOST}")


@job_task(REFRESH_WORKSHOP_ITEMS, label="Refresh workshop items", coalesce="active", retry_for=TRANSIENT)
def refresh_workshop_items(ctx: JobContext) -> None:
    items_refresh_all(ctx=ctx)


@shared_task(name="overlays.check_host_cache")
def check_host_cache(host_id: int, skip: list[int]) -> int:
    """Sent by the global refresh to each other host's queue: builds for what its cache lacks."""
    host = Host.objects.filter(pk=host_id).first()
    return len(host_cache_check(host=host, skip=skip)) if host else 0


# The name predates this module and is stored in operators' schedules: it stays.
@shared_task(name="workshop.enqueue_global_refresh")
def enqueue_global_refresh() -> int:
    """What the daily PeriodicTask runs: the same enqueue as `manage.py workshop_refresh`."""
    job, _created = global_refresh_enqueue()
    return job.pk


@job_task(COLLECT_WORKSHOP_CACHE, label="Collect workshop cache", coalesce="active", queue=files_queue)
def collect_workshop_cache(ctx: JobContext) -> None:
    """Runs on the host whose cache it collects (its subject; none: the default host)."""
    host = Host.objects.filter(pk=ctx.job.subject_id).first() if ctx.job.subject_id else None
    result = cache_collect(log=ctx.log_stdout, host=host)
    ctx.progress(items_done=len(result.removals), items_total=len(result.removals))


@job_task(REINDEX_WORKSHOP_CONTENTS, label="Reindex workshop contents", coalesce="active", queue=files_queue)
def reindex_workshop_contents(ctx: JobContext) -> None:
    """Read every cached upload's VPK tree again (after an upgrade that reads more of it)."""

    def progress(done: int, total: int) -> None:
        ctx.progress(items_done=done, items_total=total)

    read = contents_reindex(progress=progress, log=ctx.log_stderr)
    overlays = list(Overlay.objects.filter(deleting=False))
    for overlay in overlays:
        overlay_contents_refresh(overlay=overlay)
    ctx.log_stdout(f"workshop contents reindexed: {read} upload(s) read, {len(overlays)} overlay(s) updated")


@shared_task(name="overlays.enqueue_cache_collection")
def enqueue_cache_collection() -> int:
    """What the daily PeriodicTask "left4me: collect workshop cache" runs: one collection per
    host; returns the default host's job."""
    return cache_collect_enqueue_all(user=None)[0].pk


@job_task(DELETE_OVERLAY, verb="Delete", coalesce="active", exclusive_per="overlay files", queue=files_queue)
def delete_overlay(ctx: JobContext) -> None:
    """Runs once the overlay's builds have stopped (same exclusive group): folder, then row."""
    overlay = _job_overlay(ctx)
    left = overlay_remove_folder(overlay=overlay)
    for path in left:
        ctx.log_stderr(f"left in place (not made by left4me): {path}")
    name = overlay.name
    overlay.delete()
    ctx.log_stdout(
        f"overlay '{name}' deleted" + (f"; {len(left)} foreign entries left in its folder" if left else "")
    )
