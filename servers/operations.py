"""The job operation of game servers, one object with its whole policy (see overlays.operations);
servers.tasks binds its work to it."""

from __future__ import annotations

from django.db import models

from jobs.registry import Operation, declare
from left4me.models import Host, host_default
from overlays.operations import TRANSIENT
from servers.models import GameServer


def server_queue(subject: models.Model | None, host: Host | None = None) -> str:
    """A server is reached from the host it runs beside (often on that host's private network)."""
    if isinstance(subject, GameServer):
        return subject.host.job_queue
    return host_default().job_queue


# A newer build joins an apply that still waits (for players to leave, for its announced
# time): one apply per server brings it to the newest addons/. Unreachable: retried.
APPLY_TO_SERVER = declare(
    Operation(
        "apply_to_server",
        label="Apply to server",
        verb="apply to server",
        coalesce="queued",
        queue=server_queue,
        retry_for=TRANSIENT,
    )
)
