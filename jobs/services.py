"""Jobs: enqueue, dispatch, claim, finish, cancel, log, and the reaper that settles lost ones."""

from __future__ import annotations

import enum
import logging
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs.models import Job, JobLogLine
from left4me.celery import app

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from overlays.models import Overlay

logger = logging.getLogger(__name__)

# Work that writes an overlay's files: one at a time per overlay, on the queue of the host holding them.
OVERLAY_OPERATIONS = frozenset({Job.Operation.BUILD_OVERLAY, Job.Operation.REFRESH_OVERLAY})

# A new request for these returns the existing job in one of the listed states.
COALESCE_STATES: dict[str, tuple[str, ...]] = {
    Job.Operation.BUILD_OVERLAY: (Job.State.QUEUED,),
    Job.Operation.REFRESH_OVERLAY: (Job.State.QUEUED,),
    Job.Operation.REFRESH_WORKSHOP_ITEMS: (Job.State.QUEUED, Job.State.RUNNING),
}

WORKER_LOST = "worker lost"
WAITING_TEXT = "waiting for the running job of this overlay to end"
# How long a blocked build waits before it tries to claim again.
BLOCKED_RETRY_SECONDS = 5.0
LOG_LINE_ATTEMPTS = 5
# PostgreSQL advisory lock key for enqueueing jobs of no overlay (the global refresh).
GLOBAL_JOBS_LOCK = 0x1E4_4E


class Claim(enum.Enum):
    CLAIMED = "claimed"
    BLOCKED = "blocked"  # another job of the same overlay is running: try again later
    SKIPPED = "skipped"  # not queued any more (redelivered, cancelled, gone): do nothing


# --- enqueue and dispatch ---------------------------------------------------------------


def job_enqueue(*, operation: str, user: User | None = None, overlay: Overlay | None = None) -> Job:
    """A queued job for this work; `job._created` tells a new job from a coalesced one."""
    job, created = job_enqueue_ex(operation=operation, user=user, overlay=overlay)
    job._created = created
    return job


@transaction.atomic
def job_enqueue_ex(
    *, operation: str, user: User | None = None, overlay: Overlay | None = None
) -> tuple[Job, bool]:
    _lock_overlay(overlay.pk if overlay else None)
    existing = _coalescable_job(operation, overlay)
    if existing is not None:
        return existing, False
    job = Job.objects.create(operation=operation, user=user, overlay=overlay)
    job_dispatch(job=job)
    return job, True


def _coalescable_job(operation: str, overlay: Overlay | None) -> Job | None:
    states = COALESCE_STATES.get(operation)
    if not states:
        return None
    return Job.objects.filter(operation=operation, overlay=overlay, state__in=states).order_by("id").first()


def _lock_overlay(overlay_id: int | None) -> None:
    """Serialise enqueue and claim per overlay (jobs of no overlay share one lock) on PostgreSQL;
    SQLite already runs one writer at a time."""
    if overlay_id is not None:
        from overlays.models import Overlay

        list(Overlay.objects.select_for_update().filter(pk=overlay_id).values_list("pk"))
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GLOBAL_JOBS_LOCK])


def job_queue(operation: str) -> str:
    if operation in OVERLAY_OPERATIONS:
        return settings.LEFT4ME_WORKER_QUEUE
    return settings.CELERY_TASK_DEFAULT_QUEUE


def job_dispatch(*, job: Job, countdown: float | None = None) -> None:
    """Give the job a fresh task id and send its message once the current transaction commits."""
    task_id = str(uuid.uuid4())
    Job.objects.filter(pk=job.pk).update(celery_task_id=task_id, dispatched_at=timezone.now())
    job.celery_task_id = task_id
    transaction.on_commit(partial(_send, job.pk, job.operation, task_id, countdown))


def _send(job_id: int, operation: str, task_id: str, countdown: float | None) -> None:
    try:
        app.send_task(
            f"jobs.{operation}",
            args=[job_id],
            task_id=task_id,
            queue=job_queue(operation),
            countdown=countdown,
        )
    except Exception:
        # The job row is committed: the reaper sends it again (JOB_QUEUED_REDISPATCH_SECONDS).
        logger.exception("could not send the message of job %s", job_id)


# --- cancel and log ---------------------------------------------------------------------


def job_cancel(*, job: Job) -> Job:
    """Queued: cancelled at once and its message revoked. Running: cancelling, stops at its next check."""
    with transaction.atomic():
        if _cancel_queued(job):
            job_log(job_id=job.pk, text="cancelled before it started")
            transaction.on_commit(partial(_revoke, job.celery_task_id))
        elif Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(state=Job.State.CANCELLING):
            job_log(job_id=job.pk, text="cancel requested")
    job.refresh_from_db()
    return job


def _cancel_queued(job: Job) -> bool:
    job.celery_task_id = Job.objects.filter(pk=job.pk).values_list("celery_task_id", flat=True).first() or ""
    updated = Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(
        state=Job.State.CANCELLED, finished_at=timezone.now()
    )
    return bool(updated)


def _revoke(task_id: str) -> None:
    if not task_id:
        return
    try:
        app.control.revoke(task_id)
    except Exception:
        # Harmless: a message of a job that is no longer queued does nothing when it arrives.
        logger.warning("could not revoke task %s", task_id, exc_info=True)


def job_log(*, job_id: int, text: str, stream: str = JobLogLine.Stream.STDOUT) -> None:
    """Append one log line with the next sequence number (retried if another writer took it)."""
    for attempt in range(1, LOG_LINE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                last = JobLogLine.objects.filter(job_id=job_id).aggregate(last=Max("seq"))["last"] or 0
                JobLogLine.objects.create(job_id=job_id, seq=last + 1, stream=stream, text=text)
            return
        except IntegrityError:
            if attempt == LOG_LINE_ATTEMPTS:
                raise


# --- claim, heartbeat, finish (used by jobs.runner) -------------------------------------


@transaction.atomic
def job_claim(*, job_id: int, operation: str | None = None) -> tuple[Claim, datetime | None]:
    """Compare-and-set queued -> running; the start time it returns identifies this run."""
    job = Job.objects.filter(pk=job_id).only("state", "operation", "overlay_id").first()
    if job is None or job.state != Job.State.QUEUED:
        return Claim.SKIPPED, None
    if operation is not None and job.operation != operation:
        logger.warning("job %s is %s, not %s: message ignored", job_id, job.operation, operation)
        return Claim.SKIPPED, None
    if _overlay_busy(job):
        return Claim.BLOCKED, None
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state=Job.State.QUEUED).update(
        state=Job.State.RUNNING,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
        items_done=0,
        bytes_done=0,
    )
    return (Claim.CLAIMED, now) if claimed else (Claim.SKIPPED, None)


def _overlay_busy(job: Job) -> bool:
    if job.operation not in OVERLAY_OPERATIONS or job.overlay_id is None:
        return False
    _lock_overlay(job.overlay_id)
    running = (Job.State.RUNNING, Job.State.CANCELLING)
    return Job.objects.filter(
        overlay_id=job.overlay_id, operation__in=OVERLAY_OPERATIONS, state__in=running
    ).exists()


@transaction.atomic
def job_wait_for_overlay(*, job_id: int, countdown: float | None = None) -> None:
    """A blocked build stays queued and tries again later; it never runs beside another one."""
    job = Job.objects.filter(pk=job_id, state=Job.State.QUEUED).first()
    if job is None:
        return
    if not job.lines.filter(text=WAITING_TEXT).exists():
        job_log(job_id=job_id, text=WAITING_TEXT)
    job_dispatch(job=job, countdown=BLOCKED_RETRY_SECONDS if countdown is None else countdown)


def _this_run(job_id: int, started_at: datetime) -> Q:
    """This run of the job: the reaper may have handed the job to another run meanwhile."""
    return Q(pk=job_id, started_at=started_at, state__in=(Job.State.RUNNING, Job.State.CANCELLING))


def job_heartbeat(*, job_id: int, started_at: datetime) -> bool:
    return bool(Job.objects.filter(_this_run(job_id, started_at)).update(heartbeat_at=timezone.now()))


def job_is_cancelled(*, job_id: int, started_at: datetime) -> bool:
    """True when the run should stop: cancel asked, or the job is no longer this run's."""
    return not Job.objects.filter(_this_run(job_id, started_at), state=Job.State.RUNNING).exists()


def job_progress_save(*, job_id: int, started_at: datetime, progress: dict[str, int]) -> None:
    Job.objects.filter(_this_run(job_id, started_at)).update(**progress)


@transaction.atomic
def job_finish(*, job_id: int, started_at: datetime, state: str, error: str = "") -> str | None:
    """End this run; success while cancelling counts as cancelled. Returns the final state."""
    current = Job.objects.filter(_this_run(job_id, started_at)).values_list("state", flat=True).first()
    if current is None:
        return None
    if state == Job.State.SUCCEEDED and current == Job.State.CANCELLING:
        state = Job.State.CANCELLED
    Job.objects.filter(pk=job_id).update(state=state, error=error, finished_at=timezone.now())
    return state


# --- the reaper -------------------------------------------------------------------------


def job_reap_stale(*, stale_after_seconds: float | None = None) -> dict[str, int]:
    """Settle running jobs whose heartbeat stopped, and re-send queued jobs whose message got lost.

    A running job is re-queued up to JOB_MAX_REQUEUES times, then failed with "worker lost";
    a cancelling one is cancelled.
    """
    stale_after = settings.JOB_STALE_AFTER_SECONDS if stale_after_seconds is None else stale_after_seconds
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    counts = {"requeued": 0, "failed": 0, "cancelled": 0, "redispatched": 0}
    for job in _stale_jobs(cutoff):
        outcome = _reap_one(job, cutoff)
        if outcome:
            counts[outcome] += 1
    counts["redispatched"] = _redispatch_lost(timezone.now())
    return counts


def _last_seen_before(cutoff: datetime) -> QuerySet[Job]:
    """Jobs whose last sign of life (heartbeat, else start, else creation) is older than cutoff."""
    last_seen = Coalesce("heartbeat_at", "started_at", "created_at")
    return Job.objects.annotate(last_seen=last_seen).filter(last_seen__lt=cutoff)


def _stale_jobs(cutoff: datetime) -> list[Job]:
    running = (Job.State.RUNNING, Job.State.CANCELLING)
    return list(_last_seen_before(cutoff).filter(state__in=running).order_by("id"))


@transaction.atomic
def _reap_one(job: Job, cutoff: datetime) -> str | None:
    still_stale = _last_seen_before(cutoff).filter(pk=job.pk, state=job.state)
    if job.state == Job.State.CANCELLING:
        return _settle(still_stale, job, Job.State.CANCELLED, "", "worker lost while cancelling; cancelled")
    if job.requeues >= settings.JOB_MAX_REQUEUES:
        text = f"{WORKER_LOST}; failed after {job.requeues} re-queues"
        return _settle(still_stale, job, Job.State.FAILED, WORKER_LOST, text)
    if not still_stale.update(state=Job.State.QUEUED, requeues=F("requeues") + 1, heartbeat_at=None):
        return None
    job_log(job_id=job.pk, text=f"{WORKER_LOST}; re-queued", stream=JobLogLine.Stream.STDERR)
    job_dispatch(job=job)
    return "requeued"


def _settle(still_stale: QuerySet[Job], job: Job, state: str, error: str, text: str) -> str | None:
    if not still_stale.update(state=state, error=error, finished_at=timezone.now()):
        return None
    job_log(job_id=job.pk, text=text, stream=JobLogLine.Stream.STDERR)
    return "failed" if state == Job.State.FAILED else "cancelled"


def _redispatch_lost(now: datetime) -> int:
    """Queued jobs no worker took for long: their message was lost (broker down at send time)."""
    cutoff = now - timedelta(seconds=settings.JOB_QUEUED_REDISPATCH_SECONDS)
    lost = Job.objects.filter(state=Job.State.QUEUED).filter(
        Q(dispatched_at__lt=cutoff) | Q(dispatched_at__isnull=True, created_at__lt=cutoff)
    )
    count = 0
    for job in lost.order_by("id"):
        with transaction.atomic():
            job_log(job_id=job.pk, text="no worker took the job; sent again")
            job_dispatch(job=job)
        count += 1
    return count
