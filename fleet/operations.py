"""The job operations of the fleet, each one object with its whole policy (see
overlays.operations); fleet.tasks binds their work to them."""

from __future__ import annotations

from jobs.registry import Operation, declare
from overlays.operations import TRANSIENT, files_queue

REFRESH_WORKSHOP_ITEMS = declare(
    Operation(
        "refresh_workshop_items", label="Refresh workshop items", coalesce="active", retry_for=TRANSIENT
    )
)
# On the host whose cache it collects (its subject; none: the default host).
COLLECT_WORKSHOP_CACHE = declare(
    Operation("collect_workshop_cache", label="Collect workshop cache", coalesce="active", queue=files_queue)
)
REINDEX_WORKSHOP_CONTENTS = declare(
    Operation(
        "reindex_workshop_contents", label="Reindex workshop contents", coalesce="active", queue=files_queue
    )
)
