"""Counters kept in the database (left4me.models.Counter), counted in memory and added in batches.

`count()` is free to call from any thread, inside a transaction or not: it only adds to this
process's pending numbers. `counters_flush()` adds them to the rows, one UPDATE per name, at
moments when nothing else holds the database: the end of each web request and of each Celery
task (left4me.apps connects both).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F

logger = logging.getLogger(__name__)

STEAM_API_CALLS = "steam_api_calls"
STEAM_API_FAILURES = "steam_api_failures"
STEAM_API_RETRIES = "steam_api_retries"
DOWNLOADED_BYTES = "downloaded_bytes"
# Job runs by how long they took, a histogram in counters: per operation, the runs that took at
# most each bound (seconds), all of them, and their milliseconds in all.
DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600)
JOB_RUNS = "job_runs"
JOB_MILLISECONDS = "job_ms"

_pending: Tally[str] = Tally()
_lock = threading.Lock()


def count(name: str, amount: int = 1) -> None:
    with _lock:
        _pending[name] += amount


def job_duration_le(bound: int) -> str:
    return f"job_le_{bound}"


def count_job_run(operation: str, seconds: float) -> None:
    """A run of an `operation` job ended after `seconds` (names: "<counter>:<operation>")."""
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            count(f"{job_duration_le(bound)}:{operation}")
    count(f"{JOB_RUNS}:{operation}")
    count(f"{JOB_MILLISECONDS}:{operation}", max(0, round(seconds * 1000)))


def pending() -> dict[str, int]:
    with _lock:
        return dict(_pending)


def counters_forget() -> None:
    """Drop what was counted and not flushed (tests)."""
    with _lock:
        _pending.clear()


def counters_flush() -> None:
    """Add what this process counted to its host's rows; what cannot be written now waits for
    the next flush."""
    with _lock:
        taken = dict(_pending)
        _pending.clear()
    for name, amount in taken.items():
        try:
            _add(settings.LEFT4ME_HOST, name, amount)
        except DatabaseError:
            logger.warning(
                "counter %s: %d not stored yet (database busy), kept for the next flush", name, amount
            )
            count(name, amount)


def _add(host: str, name: str, amount: int) -> None:
    from left4me.models import Counter  # here: the Steam client imports this module before apps load

    if Counter.objects.filter(host=host, name=name).update(value=F("value") + amount):
        return
    try:
        with transaction.atomic():
            Counter.objects.create(host=host, name=name, value=amount)
    except IntegrityError:  # another process made the row first
        Counter.objects.filter(host=host, name=name).update(value=F("value") + amount)
