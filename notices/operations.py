"""The job operation of notices, one object with its whole policy (see overlays.operations);
notices.tasks binds its work to it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from jobs.registry import Operation, declare
from left4me.models import Host
from overlays.operations import TRANSIENT


def housekeeping_queue(subject: models.Model | None, host: Host | None = None) -> str:
    """Sending is short and needs no host's files: the housekeeping worker sends it."""
    return str(settings.LEFT4ME_HOUSEKEEPING_QUEUE)


# One delivery job per destination: notices that come while it waits (for the digest, for a
# retry) join it, and go out in one message. A receiver down: retried like a build.
DELIVER_NOTICES = declare(
    Operation(
        "deliver_notices",
        label="Deliver notices",
        verb="Deliver notices to",
        coalesce="queued",
        queue=housekeeping_queue,
        retry_for=TRANSIENT,
    )
)
