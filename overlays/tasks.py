"""Job work for overlays: each takes the JobContext the jobs runner hands it."""

from __future__ import annotations

from jobs.models import Job
from jobs.runner import JobContext, JobFailed, job_task
from overlays.models import Overlay
from overlays.services import overlay_build
from workshop.services import overlay_refresh


def _job_overlay(ctx: JobContext) -> Overlay:
    overlay = Overlay.objects.filter(pk=ctx.job.overlay_id).first()
    if overlay is None:
        raise JobFailed("overlay no longer exists")
    return overlay


@job_task(Job.Operation.BUILD_OVERLAY)
def build_overlay(ctx: JobContext) -> None:
    overlay_build(overlay=_job_overlay(ctx), ctx=ctx)


@job_task(Job.Operation.REFRESH_OVERLAY)
def refresh_overlay(ctx: JobContext) -> None:
    overlay_refresh(overlay=_job_overlay(ctx), ctx=ctx)
