"""The job operations of overlays, each one object with its whole policy: name (stored in job
rows and in its task's name), label, coalescing, exclusivity, the function that picks its queue
and its retry policy. Services enqueue these objects; overlays.tasks binds their work to them."""

from __future__ import annotations

from django.db import models

from jobs.registry import Operation, declare
from jobs.runner import JobRetryable
from left4me.models import Host, host_default
from overlays.models import Overlay

# Builds and refreshes wait and run again when Steam or the network failed them.
TRANSIENT = (JobRetryable,)
# Work that writes an overlay's files: one at a time per overlay.
OVERLAY_FILES = "overlay files"


def files_queue(subject: models.Model | None, host: Host | None = None) -> str:
    """Work on files runs on the worker of the host that holds them: an overlay's host (as the
    database says now), a host itself (its cache), else the default host (the one machine of a
    single install)."""
    if isinstance(subject, Overlay):
        return (Host.objects.filter(overlays=subject).first() or subject.host).job_queue
    if isinstance(subject, Host):
        return subject.job_queue
    return host_default().job_queue


def arrival_queue(subject: models.Model | None, host: Host | None = None) -> str:
    """A move builds the overlay on the host it goes to."""
    if isinstance(subject, Overlay) and subject.moving_to is not None:
        return subject.moving_to.job_queue
    return files_queue(subject)


def left_host_queue(subject: models.Model | None, host: Host | None = None) -> str:
    """An overlay's folder on a host it has left is removed by that host's worker."""
    if host is None:
        raise ValueError("removing an old folder needs the host the overlay left")
    return host.job_queue


BUILD_OVERLAY = declare(
    Operation(
        "build_overlay",
        verb="Build",
        coalesce="queued",
        exclusive_per=OVERLAY_FILES,
        queue=files_queue,
        retry_for=TRANSIENT,
    )
)
REFRESH_OVERLAY = declare(
    Operation(
        "refresh_overlay",
        verb="Refresh",
        coalesce="queued",
        exclusive_per=OVERLAY_FILES,
        queue=files_queue,
        retry_for=TRANSIENT,
    )
)
MOVE_OVERLAY = declare(
    Operation(
        "move_overlay", verb="Move", coalesce="active", exclusive_per=OVERLAY_FILES, queue=arrival_queue
    )
)
CLEAR_OVERLAY_FOLDER = declare(
    Operation(
        "clear_overlay_folder",
        label="Remove old folder",
        verb="Remove the old folder of",
        queue=left_host_queue,
    )
)
DELETE_OVERLAY = declare(
    Operation(
        "delete_overlay", verb="Delete", coalesce="active", exclusive_per=OVERLAY_FILES, queue=files_queue
    )
)

# The work that writes an overlay's files and follows its list (a build's page shows them).
FILE_OPERATIONS = (BUILD_OVERLAY, REFRESH_OVERLAY)
# What a delete cancels first.
BUILD_OPERATIONS = (BUILD_OVERLAY, REFRESH_OVERLAY, MOVE_OVERLAY)


def names(operations: tuple[Operation, ...]) -> list[str]:
    """The stored names of `operations`, for filtering job rows."""
    return [operation.name for operation in operations]
