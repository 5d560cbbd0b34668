"""The job operations of overlays, each declared once with its policy, and the daily refresh."""

from __future__ import annotations

from celery import shared_task

from jobs.runner import JobCancelled, JobContext, JobFailed, JobRetryable, job_task
from overlays.build import overlay_build, overlay_remove_folder
from overlays.contents import overlay_contents_refresh
from overlays.gc import cache_collect
from overlays.models import Overlay
from overlays.refresh import items_refresh_all, overlay_refresh
from overlays.services import (
    BUILD_OVERLAY,
    COLLECT_WORKSHOP_CACHE,
    DELETE_OVERLAY,
    REFRESH_OVERLAY,
    REFRESH_WORKSHOP_ITEMS,
    REINDEX_WORKSHOP_CONTENTS,
    cache_collect_enqueue,
    files_queue,
    global_refresh_enqueue,
)
from workshop.contents import contents_reindex

# Builds and refreshes wait and run again when Steam or the network failed them (JobRetryable).
TRANSIENT = (JobRetryable,)


def _job_overlay(ctx: JobContext) -> Overlay:
    overlay = Overlay.objects.filter(pk=ctx.job.subject_id).first() if ctx.job.subject_id else None
    if overlay is None:
        raise JobFailed("overlay no longer exists")
    if overlay.deleting and ctx.job.operation != DELETE_OVERLAY:
        raise JobCancelled("the overlay is being deleted")
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
    overlay_build(overlay=_job_overlay(ctx), ctx=ctx)


@job_task(
    REFRESH_OVERLAY,
    verb="Refresh",
    coalesce="queued",
    exclusive_per="overlay files",
    queue=files_queue,
    retry_for=TRANSIENT,
)
def refresh_overlay(ctx: JobContext) -> None:
    overlay_refresh(overlay=_job_overlay(ctx), ctx=ctx)


@job_task(REFRESH_WORKSHOP_ITEMS, label="Refresh workshop items", coalesce="active", retry_for=TRANSIENT)
def refresh_workshop_items(ctx: JobContext) -> None:
    items_refresh_all(ctx=ctx)


# The name predates this module and is stored in operators' schedules: it stays.
@shared_task(name="workshop.enqueue_global_refresh")
def enqueue_global_refresh() -> int:
    """What the daily PeriodicTask runs: the same enqueue as `manage.py workshop_refresh`."""
    job, _created = global_refresh_enqueue()
    return job.pk


@job_task(COLLECT_WORKSHOP_CACHE, label="Collect workshop cache", coalesce="active", queue=files_queue)
def collect_workshop_cache(ctx: JobContext) -> None:
    result = cache_collect(log=ctx.log_stdout)
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
    """What the daily PeriodicTask "left4me: collect workshop cache" runs."""
    job, _created = cache_collect_enqueue(user=None)
    return job.pk


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
