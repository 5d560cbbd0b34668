"""The overlays' job tasks: each binds its work to its operation (overlays.operations)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from jobs.runner import JobCancelled, JobContext, JobFailed, job_task
from overlays.build import overlay_build, overlay_remove_folder
from overlays.models import Overlay
from overlays.operations import (
    BUILD_OVERLAY,
    CLEAR_OVERLAY_FOLDER,
    DELETE_OVERLAY,
    MOVE_OVERLAY,
    REFRESH_OVERLAY,
)
from overlays.refresh import overlay_refresh
from overlays.services import old_folder_clear_enqueue, overlay_move_finish


def _job_overlay(ctx: JobContext) -> Overlay:
    overlays = Overlay.objects.select_related("host", "moving_to")
    overlay = overlays.filter(pk=ctx.job.subject_id).first() if ctx.job.subject_id else None
    if overlay is None:
        raise JobFailed("overlay no longer exists")
    if overlay.deleting and ctx.job.operation != DELETE_OVERLAY.name:
        raise JobCancelled("the overlay is being deleted")
    return overlay


def _overlay_here(ctx: JobContext) -> Overlay:
    """The job's overlay, when its files are on this host. A job queued for the host an overlay
    left moves along with it (overlays.services.overlay_move_finish): one that still reaches the
    old host does nothing there."""
    overlay = _job_overlay(ctx)
    if not overlay.host.is_here and overlay.host.job_queue != ctx.job.queue:
        raise JobCancelled(f"the overlay is on host {overlay.host} now, not here")
    return overlay


def _log_left_in_place(ctx: JobContext, left: list[Path]) -> None:
    for path in left:
        ctx.log_stderr(f"left in place (not made by left4me): {path}")


@job_task(BUILD_OVERLAY)
def build_overlay(ctx: JobContext) -> None:
    overlay_build(overlay=_overlay_here(ctx), ctx=ctx)


@job_task(REFRESH_OVERLAY)
def refresh_overlay(ctx: JobContext) -> None:
    overlay_refresh(overlay=_overlay_here(ctx), ctx=ctx)


@job_task(MOVE_OVERLAY)
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


@job_task(CLEAR_OVERLAY_FOLDER)
def clear_overlay_folder(ctx: JobContext) -> None:
    """On the host an overlay left: its folder goes (the row may be gone meanwhile)."""
    overlay = Overlay(pk=ctx.job.subject_id, host_id=None)
    _log_left_in_place(ctx, overlay_remove_folder(overlay=overlay))
    ctx.log_stdout(f"removed the folder of overlay {ctx.job.subject_id} on host {settings.LEFT4ME_HOST}")


@job_task(DELETE_OVERLAY)
def delete_overlay(ctx: JobContext) -> None:
    """Runs once the overlay's builds have stopped (same exclusive group): folder, then row."""
    overlay = _job_overlay(ctx)
    left = overlay_remove_folder(overlay=overlay)
    _log_left_in_place(ctx, left)
    name = overlay.name
    overlay.delete()
    ctx.log_stdout(
        f"overlay '{name}' deleted" + (f"; {len(left)} foreign entries left in its folder" if left else "")
    )
