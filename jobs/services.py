"""Jobs: enqueue, dispatch, claim, finish, cancel, log, and the reaper that settles lost ones."""

from __future__ import annotations

import enum
import logging
import random
import time
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from celery import current_app
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Max, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from jobs import registry
from jobs.models import MANAGE_ALL_JOBS, REASON_MAX, Job, JobItem, JobLogLine
from jobs.signals import job_ended
from left4me import counters

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from left4me.models import Host

logger = logging.getLogger(__name__)

WORKER_LOST = "worker lost"
TAKEN_OVER = f"{WORKER_LOST}; taken over by a redelivered message"
# How long a blocked job waits before it tries to claim again.
BLOCKED_RETRY_SECONDS = 5.0
LOG_LINE_ATTEMPTS = 5
# PostgreSQL advisory lock key for enqueueing jobs of no subject (the global refresh).
GLOBAL_JOBS_LOCK = 0x1E4_4E


def job_for_user(*, user: User, pk: int) -> Job:
    """The job, if `user` started it or owns its subject (holders of jobs.manage_all_jobs: any
    job); PermissionDenied (403) for someone else's, Http404 when there is none. One query for
    one's own job: its status is polled every second, and the permissions are looked up only
    for someone else's."""
    jobs = Job.objects.select_related("user", "subject_type").filter(pk=pk)
    job = jobs.own_or_started_by(user).first()
    if job is not None:
        return job
    if user.has_perm(MANAGE_ALL_JOBS) and (job := jobs.first()) is not None:
        return job
    if Job.objects.filter(pk=pk).exists():
        raise PermissionDenied("This job belongs to another user.")
    raise Http404("No such job.")


class Claim(enum.Enum):
    CLAIMED = "claimed"
    BLOCKED = "blocked"  # an exclusive job of the same subject is running: try again later
    SKIPPED = "skipped"  # not queued any more (redelivered, cancelled, gone): do nothing
    # The job runs and beats, and this is the message that started it, delivered again: its
    # worker process may have been killed a moment ago (see job_claim_when_silent).
    ALIVE = "alive"


# --- enqueue and dispatch ---------------------------------------------------------------


@transaction.atomic
def job_enqueue(
    *,
    operation: registry.Operation,
    subject: models.Model | None = None,
    owner: User | None = None,
    user: User | None = None,
    reason: str = "",
    host: Host | None = None,
) -> tuple[Job, bool]:
    """A queued job for this work, and whether it is new (False: it joined a live one, whose
    reason then names this one's too). Its queue is the operation's pick for `subject` and
    `host` (the host the work is about, for an operation whose queue function reads it)."""
    op = registry.get(operation.name)
    subject_type = ContentType.objects.get_for_model(subject) if subject is not None else None
    subject_id = subject.pk if subject is not None else None
    _lock_subject(subject_type, subject_id)
    existing = _coalescable_job(op, subject_type, subject_id)
    if existing is not None:
        _add_reason(existing, reason)
        if existing.waiting_to_retry:
            _wake(existing)
        return existing, False
    job = Job.objects.create(
        operation=op.name,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_name=_name_of(subject),
        owner=owner,
        user=user,
        queue=op.queue(subject, host),
        reason=reasons_joined("", reason),
    )
    job_dispatch(job=job)
    return job, True


def job_subject_lock(*, subject: models.Model) -> None:
    """Hold, until the transaction ends, the lock job_enqueue takes for `subject`'s jobs: what
    changes where a subject's jobs go (an overlay's host) waits for enqueues under way."""
    _lock_subject(ContentType.objects.get_for_model(subject), subject.pk)


def _name_of(subject: models.Model | None) -> str:
    if subject is None:
        return ""
    max_length = Job._meta.get_field("subject_name").max_length or 200
    return str(subject)[:max_length]


def reasons_joined(reasons: str, reason: str) -> str:
    """ "added 3 items" + "removed 1 item" -> "added 3 items; removed 1 item": a reason already
    there is not repeated, and the whole stays within REASON_MAX characters."""
    reason = " ".join(reason.split())
    parts = [part for part in reasons.split("; ") if part]
    if reason and reason not in parts and not reasons.endswith("…"):
        parts.append(reason)
    joined = "; ".join(parts)
    return joined if len(joined) <= REASON_MAX else joined[: REASON_MAX - 1].rstrip("; ") + "…"


def _add_reason(job: Job, reason: str) -> None:
    joined = reasons_joined(job.reason, reason)
    if joined != job.reason:
        Job.objects.filter(pk=job.pk).update(reason=joined)
        job.reason = joined


def _wake(job: Job) -> None:
    """A new request for a job waiting to retry runs it now (someone wants it; the count of
    retries stays, so waking it cannot make it retry forever)."""
    if not Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(retry_at=None):
        return
    job.retry_at = None
    job_log(job_id=job.pk, text="asked again: trying now instead of waiting")
    job_dispatch(job=job)


def _coalescable_job(
    op: registry.Operation, subject_type: ContentType | None, subject_id: int | None
) -> Job | None:
    if op.coalesce is None:
        return None
    states = (Job.State.QUEUED,) if op.coalesce == "queued" else (Job.State.QUEUED, Job.State.RUNNING)
    same = Job.objects.filter(operation=op.name, subject_type=subject_type, subject_id=subject_id)
    return same.filter(state__in=states).order_by("id").first()


def _lock_subject(subject_type: ContentType | None, subject_id: int | None) -> None:
    """Serialise enqueue and claim per subject (jobs of no subject share one lock) on PostgreSQL;
    SQLite already runs one writer at a time."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if subject_type is None:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GLOBAL_JOBS_LOCK])
        else:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"job:{subject_type.pk}:{subject_id}"]
            )


def job_dispatch(*, job: Job, countdown: float | None = None) -> None:
    """Give the job a fresh task id and send its message once the current transaction commits."""
    task_id = str(uuid.uuid4())
    Job.objects.filter(pk=job.pk).update(celery_task_id=task_id, dispatched_at=timezone.now())
    job.celery_task_id = task_id
    transaction.on_commit(partial(_send, job.pk, job.operation, job.queue, task_id, countdown))


def _send(job_id: int, operation: str, queue: str, task_id: str, countdown: float | None) -> None:
    try:
        current_app.send_task(
            registry.get(operation).task_name,
            args=[job_id],
            task_id=task_id,
            queue=queue or settings.CELERY_TASK_DEFAULT_QUEUE,
            countdown=countdown,
        )
    except Exception:
        # The job row is committed: the reaper sends it again (JOB_QUEUED_REDISPATCH_SECONDS).
        logger.exception("could not send the message of job %s", job_id)


# --- cancel and log ---------------------------------------------------------------------


def job_cancel(*, job: Job) -> Job:
    """Queued (waiting to retry too): cancelled at once and its message revoked. Running:
    cancelling, stops at its next check."""
    with transaction.atomic():
        job.refresh_from_db(fields=["state", "retry_at"])
        waiting = job.waiting_to_retry
        if _cancel_queued(job):
            job_log(
                job_id=job.pk,
                text="cancelled while waiting to retry" if waiting else "cancelled before it started",
            )
            transaction.on_commit(partial(_revoke, job.celery_task_id))
        elif Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(state=Job.State.CANCELLING):
            job_log(job_id=job.pk, text="cancel requested")
    job.refresh_from_db()
    return job


def job_retry_now(*, job: Job) -> bool:
    """A job waiting to retry gets its message now (the wait ends early); False when it is not
    waiting (it ran, or was cancelled, meanwhile)."""
    with transaction.atomic():
        waiting = Job.objects.filter(pk=job.pk, state=Job.State.QUEUED, retry_at__isnull=False)
        if not waiting.update(retry_at=None):
            return False
        job_log(job_id=job.pk, text="retry asked for now")
        job_dispatch(job=job)
    return True


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
        current_app.control.revoke(task_id)
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
def job_claim(
    *, job_id: int, operation: str | None = None, message_id: str = ""
) -> tuple[Claim, datetime | None]:
    """Compare-and-set queued -> running; the start time it returns identifies this run.

    A queued job waiting to retry is not claimed (its message comes when it is due). A running job whose
    heartbeat stopped (its worker was lost) is taken over; ALIVE when it still beats and
    `message_id` is the message that started it."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.state not in (Job.State.QUEUED, Job.State.RUNNING):
        return Claim.SKIPPED, None
    if operation is not None and job.operation != operation:
        logger.warning("job %s is %s, not %s: message ignored", job_id, job.operation, operation)
        return Claim.SKIPPED, None
    if job.state == Job.State.RUNNING:
        return _take_over(job, message_id)
    if job.retry_at is not None:
        return Claim.SKIPPED, None  # waiting: the reaper sends its message when retry_at comes
    if _subject_busy(job):
        return Claim.BLOCKED, None
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state=Job.State.QUEUED).update(
        state=Job.State.RUNNING, started_at=now, heartbeat_at=now, retry_at=None, waiting_for="", **_FRESH_RUN
    )
    return (Claim.CLAIMED, now) if claimed else (Claim.SKIPPED, None)


# What a new run of a job starts from.
_FRESH_RUN = {"finished_at": None, "items_done": 0, "items_failed": 0, "items_cached": 0, "bytes_done": 0}


def _silence() -> timedelta:
    """How long a running job may go without a heartbeat before a message may take it over."""
    return timedelta(seconds=2 * settings.JOB_HEARTBEAT_SECONDS)


def _last_beat(job: Job) -> datetime:
    """Its last sign of life, as the reaper reads it (heartbeat, else start, else creation)."""
    return job.heartbeat_at or job.started_at or job.created_at


def _take_over(job: Job, message_id: str) -> tuple[Claim, datetime | None]:
    """Take the run of a lost worker over, once: the compare-and-set on (state, heartbeat_at,
    started_at) lets one message win. Counted as a re-queue; past JOB_MAX_REQUEUES it fails."""
    if _last_beat(job) >= timezone.now() - _silence():
        own = bool(message_id) and message_id == job.celery_task_id
        return (Claim.ALIVE if own else Claim.SKIPPED), None
    this_run = Job.objects.filter(
        pk=job.pk, state=Job.State.RUNNING, heartbeat_at=job.heartbeat_at, started_at=job.started_at
    )
    if job.requeues >= settings.JOB_MAX_REQUEUES:
        text = f"{WORKER_LOST}; failed after {job.requeues} re-queues"
        _settle(this_run, job, Job.State.FAILED, WORKER_LOST, text)
        return Claim.SKIPPED, None
    now = timezone.now()
    task_id = message_id or job.celery_task_id
    fresh = {"started_at": now, "heartbeat_at": now, "celery_task_id": task_id, **_FRESH_RUN}
    if not this_run.update(requeues=F("requeues") + 1, **fresh):
        return Claim.SKIPPED, None
    job_log(job_id=job.pk, text=TAKEN_OVER, stream=JobLogLine.Stream.STDERR)
    return Claim.CLAIMED, now


def job_claim_when_silent(*, job_id: int, operation: str) -> tuple[Claim, datetime | None]:
    """For a message that found its own job running (Claim.ALIVE): a killed pool child's message
    comes back at once, while the heartbeat is still fresh. Wait until it would be two
    intervals old, then claim again: a live run has beaten meanwhile (this message does
    nothing), a lost one is taken over."""
    job = Job.objects.filter(pk=job_id).only("heartbeat_at", "started_at", "created_at").first()
    if job is None:
        return Claim.SKIPPED, None
    wait = (_last_beat(job) + _silence() - timezone.now()).total_seconds() + TAKE_OVER_MARGIN
    time.sleep(min(max(0.0, wait), _silence().total_seconds() + TAKE_OVER_MARGIN))
    return job_claim(job_id=job_id, operation=operation)


TAKE_OVER_MARGIN = 0.2  # seconds past the silence, so a lost run is surely stale when checked


def _subject_busy(job: Job) -> bool:
    """Another job of the same exclusive group runs on this job's subject."""
    op = registry.get(job.operation)
    if op.exclusive_per is None or job.subject_id is None:
        return False
    _lock_subject(job.subject_type, job.subject_id)
    running = (Job.State.RUNNING, Job.State.CANCELLING)
    return Job.objects.filter(
        subject_type_id=job.subject_type_id,
        subject_id=job.subject_id,
        operation__in=registry.exclusive_group(op),
        state__in=running,
    ).exists()


def waiting_text(job: Job) -> str:
    noun = job.subject_type.name if job.subject_type else "subject"
    return f"waiting for the running job of this {noun} to end"


@transaction.atomic
def job_wait_for_subject(*, job_id: int, countdown: float | None = None) -> None:
    """A blocked job stays queued and tries again later; it never runs beside an exclusive one."""
    job = Job.objects.select_related("subject_type").filter(pk=job_id, state=Job.State.QUEUED).first()
    if job is None:
        return
    text = waiting_text(job)
    if not job.lines.filter(text=text).exists():
        job_log(job_id=job_id, text=text)
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


def job_items_declare(*, job_id: int, items: list[JobItem]) -> dict[str, int]:
    """Replace the job's items (a re-run starts over) with `items`; their ids by key."""
    with transaction.atomic():
        JobItem.objects.filter(job_id=job_id).delete()
        for item in items:
            item.job_id = job_id
        JobItem.objects.bulk_create(items, batch_size=500)
    return dict(JobItem.objects.filter(job_id=job_id).values_list("key", "id"))


def job_items_save(*, items: list[JobItem]) -> None:
    """Write the state, bytes and error of items (rows with their id), in one statement."""
    if not items:
        return
    now = timezone.now()
    for item in items:
        item.updated_at = now
    JobItem.objects.bulk_update(items, ["state", "bytes_done", "error", "updated_at"], batch_size=500)


def retry_countdown(retry: int) -> float:
    """Seconds before retry `retry` (1-based) of a job whose run failed on something that may
    pass: JOB_RETRY_FIRST_MINUTES, then JOB_RETRY_FACTOR times longer each time (5, 15, 45
    minutes by default), each up to JOB_RETRY_JITTER shorter or longer so jobs that failed
    together do not all come back in the same second."""
    base = float(settings.JOB_RETRY_FIRST_MINUTES * 60 * settings.JOB_RETRY_FACTOR ** (retry - 1))
    jitter = float(settings.JOB_RETRY_JITTER)
    return base * random.uniform(1 - jitter, 1 + jitter)


@transaction.atomic
def job_retry_later(*, job_id: int, started_at: datetime, why: str) -> datetime | None:
    """After a transient failure of this run: the job back to queued until retry_at, which it
    returns, with one line in the log; None (the caller fails the job) when JOB_RETRIES are
    used up or the run is no longer running (cancel asked, taken over). No message waits in
    the broker meanwhile: the reaper sends one when retry_at has come (job_reap_stale)."""
    this_run = Job.objects.filter(_this_run(job_id, started_at), state=Job.State.RUNNING)
    job = this_run.first()
    if job is None:  # cancel asked, or taken over: this run just fails
        job_log(job_id=job_id, text=why, stream=JobLogLine.Stream.STDERR)
        return None
    total = settings.JOB_RETRIES
    failed = f"attempt {job.retries + 1}/{total + 1} failed (transient): {why}"
    if job.retries >= total:
        job_log(job_id=job_id, text=f"{failed}; no retries left", stream=JobLogLine.Stream.STDERR)
        return None
    now = timezone.now()
    retry_at = now + timedelta(seconds=retry_countdown(job.retries + 1))
    waiting = {"state": Job.State.QUEUED, "retry_at": retry_at, "started_at": None, "heartbeat_at": None}
    if not this_run.update(retries=job.retries + 1, dispatched_at=None, **waiting):
        job_log(job_id=job_id, text=why, stream=JobLogLine.Stream.STDERR)  # a cancel came first
        return None
    at = timezone.localtime(retry_at).strftime("%H:%M")
    text = f"{failed}; retrying at {at} ({job.retries + 1}/{total})"
    job_log(job_id=job_id, text=text, stream=JobLogLine.Stream.STDERR)
    return retry_at


@transaction.atomic
def job_wait_until(*, job_id: int, started_at: datetime, wait: datetime, waiting_for: str) -> bool:
    """This run cannot go on yet: the job back to queued until `wait` (no retry counted), saying
    what it waits for; the reaper sends its message then, as for a retry. False when the run is
    no longer running (cancel asked, taken over)."""
    this_run = Job.objects.filter(_this_run(job_id, started_at), state=Job.State.RUNNING)
    waiting = {"state": Job.State.QUEUED, "retry_at": wait, "started_at": None, "heartbeat_at": None}
    text = waiting_for[:REASON_MAX]
    if not this_run.update(dispatched_at=None, waiting_for=text, **waiting):
        return False
    # One line while the wait stays the same (a check a minute for hours would fill the log).
    last = JobLogLine.objects.filter(job_id=job_id).order_by("-seq").values_list("text", flat=True).first()
    if last != text:
        job_log(job_id=job_id, text=text)
    return True


@transaction.atomic
def job_finish(*, job_id: int, started_at: datetime, state: str, error: str = "") -> str | None:
    """End this run; success while cancelling counts as cancelled. Returns the final state."""
    found = Job.objects.filter(_this_run(job_id, started_at)).values_list("state", "operation").first()
    if found is None:
        return None
    current, operation = found
    if state == Job.State.SUCCEEDED and current == Job.State.CANCELLING:
        state = Job.State.CANCELLED
    now = timezone.now()
    Job.objects.filter(pk=job_id).update(state=state, error=error, finished_at=now)
    counters.count_job_run(operation, (now - started_at).total_seconds())
    transaction.on_commit(partial(job_ended.send_robust, sender=Job, job_id=job_id, state=state))
    return state


# --- the reaper -------------------------------------------------------------------------


def job_reap_stale(*, stale_after_seconds: float | None = None) -> dict[str, int]:
    """Settle running jobs whose heartbeat stopped, and re-send queued jobs whose message got lost.

    A running job is re-queued up to JOB_MAX_REQUEUES times, then failed with "worker lost";
    a cancelling one is cancelled.
    """
    stale_after = settings.JOB_STALE_AFTER_SECONDS if stale_after_seconds is None else stale_after_seconds
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    counts = {"requeued": 0, "failed": 0, "cancelled": 0, "redispatched": 0, "retried": 0}
    for job in _stale_jobs(cutoff):
        outcome = _reap_one(job, cutoff)
        if outcome:
            counts[outcome] += 1
    counts["redispatched"] = _redispatch_lost(timezone.now())
    counts["retried"] = _dispatch_due_retries(timezone.now())
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
    sent_before = Q(dispatched_at__lt=cutoff) | Q(dispatched_at__isnull=True, created_at__lt=cutoff)
    lost = Job.objects.filter(sent_before, state=Job.State.QUEUED, retry_at__isnull=True)
    count = 0
    for job in lost.order_by("id"):
        with transaction.atomic():
            job_log(job_id=job.pk, text="no worker took the job; sent again")
            job_dispatch(job=job)
        count += 1
    return count


def _dispatch_due_retries(now: datetime) -> int:
    """Jobs waiting to retry whose time has come get their message now. The wait lives in the
    row, not in a message with a countdown: a worker holding such a message for 45 minutes
    could lose it (or stop consuming) when Redis restarts, and Redis would hand it to a second
    worker once its visibility timeout passed."""
    count = 0
    for job in Job.objects.filter(state=Job.State.QUEUED, retry_at__lte=now).order_by("retry_at", "id"):
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, state=Job.State.QUEUED, retry_at=job.retry_at).update(
                retry_at=None
            ):
                job_dispatch(job=job)
                count += 1
    return count
