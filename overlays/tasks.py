"""The job operations of overlays, each declared once with its policy, and the daily refresh."""

from __future__ import annotations

from celery import shared_task

from jobs.runner import JobContext, JobFailed, job_task
from overlays.build import overlay_build
from overlays.models import Overlay
from overlays.refresh import items_refresh_all, overlay_refresh
from overlays.services import (
    BUILD_OVERLAY,
    REFRESH_OVERLAY,
    REFRESH_WORKSHOP_ITEMS,
    files_queue,
    global_refresh_enqueue,
)


def _job_overlay(ctx: JobContext) -> Overlay:
    overlay = Overlay.objects.filter(pk=ctx.job.subject_id).first() if ctx.job.subject_id else None
    if overlay is None:
        raise JobFailed("overlay no longer exists")
    return overlay


@job_task(BUILD_OVERLAY, coalesce="queued", exclusive_per="overlay files", queue=files_queue)
def build_overlay(ctx: JobContext) -> None:
    overlay_build(overlay=_job_overlay(ctx), ctx=ctx)


@job_task(REFRESH_OVERLAY, coalesce="queued", exclusive_per="overlay files", queue=files_queue)
def refresh_overlay(ctx: JobContext) -> None:
    overlay_refresh(overlay=_job_overlay(ctx), ctx=ctx)


@job_task(REFRESH_WORKSHOP_ITEMS, label="Refresh workshop items", coalesce="active")
def refresh_workshop_items(ctx: JobContext) -> None:
    items_refresh_all(ctx=ctx)


# The name predates this module and is stored in operators' schedules: it stays.
@shared_task(name="workshop.enqueue_global_refresh")
def enqueue_global_refresh() -> int:
    """What the daily PeriodicTask runs: the same enqueue as `manage.py workshop_refresh`."""
    job, _created = global_refresh_enqueue()
    return job.pk
