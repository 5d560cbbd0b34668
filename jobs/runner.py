"""The one wrapper every job task runs in: claim, heartbeat, log, progress, cancel, final state."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import connection

from jobs import registry
from jobs.models import Job, JobItem, JobLogLine
from jobs.services import (
    Claim,
    job_claim,
    job_claim_when_silent,
    job_finish,
    job_heartbeat,
    job_is_cancelled,
    job_items_declare,
    job_items_save,
    job_log,
    job_progress_save,
    job_retry_later,
    job_wait_for_subject,
    job_wait_until,
)

logger = logging.getLogger(__name__)

# Live enough for the job page (it polls every second) without a write per downloaded chunk.
PROGRESS_WRITE_INTERVAL = 0.5
CANCEL_CHECK_INTERVAL = 0.5


class JobCancelled(Exception):
    """Raised by work to stop; the job ends cancelled."""


class JobFailed(Exception):
    """Raised by work for an expected failure; its message becomes the job's error as is."""


class JobWait(Exception):
    """Raised by work that cannot go on yet (a game server still has players): the job waits
    queued in its row until `until`, holding no worker slot, and the housekeeping sends it again
    then; `waiting_for` ("waiting for 'Versus #1' to empty (3 players)") is what its page says."""

    def __init__(self, waiting_for: str, until: datetime) -> None:
        super().__init__(waiting_for)
        self.waiting_for = waiting_for
        self.until = until


class JobRetryable(JobFailed):
    """A failure that may pass (Steam down, the network): a job of an operation declared with
    ``retry_for=(JobRetryable,)`` runs again later (see jobs.services.retry_countdown), the
    others fail as for JobFailed."""


@dataclass
class JobContext:
    """What the work gets: log, progress (of the whole and of declared items), cancel. Every
    method is safe to call from any thread; progress is written at most every
    PROGRESS_WRITE_INTERVAL, and once more when the work ends."""

    job_id: int
    job: Job
    started_at: datetime
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _progress: dict[str, int] = field(default_factory=dict, repr=False)
    _items: dict[str, JobItem] = field(default_factory=dict, repr=False)
    _dirty: set[str] = field(default_factory=set, repr=False)
    _progress_written_at: float = field(default=float("-inf"), repr=False)
    _cancel_checked_at: float = field(default=float("-inf"), repr=False)
    _cancelled: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self._progress = {
            "items_done": 0,
            "items_total": self.job.items_total,
            "items_failed": 0,
            "items_cached": 0,
            "bytes_done": 0,
            "bytes_total": self.job.bytes_total,
        }

    def log_stdout(self, text: str) -> None:
        with self._lock:
            job_log(job_id=self.job_id, text=text, stream=JobLogLine.Stream.STDOUT)

    def log_stderr(self, text: str) -> None:
        with self._lock:
            job_log(job_id=self.job_id, text=text, stream=JobLogLine.Stream.STDERR)

    def summarize(self, text: str) -> None:
        """One line saying what the work changed: logged, and shown on the job's page."""
        self.log_stdout(text)
        Job.objects.filter(pk=self.job_id).update(summary=text)

    def progress(
        self,
        *,
        items_done: int | None = None,
        items_total: int | None = None,
        bytes_done: int | None = None,
        bytes_total: int | None = None,
        items_failed: int | None = None,
        items_cached: int | None = None,
    ) -> None:
        values = {"items_done": items_done, "items_total": items_total}
        values |= {"bytes_done": bytes_done, "bytes_total": bytes_total}
        values |= {"items_failed": items_failed, "items_cached": items_cached}
        with self._lock:
            self._progress |= {name: value for name, value in values.items() if value is not None}
            self._save_progress(force=False)

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self._progress["bytes_done"] += n
            self._save_progress(force=False)

    def items_declare(self, items: Iterable[tuple[str, str, int]]) -> None:
        """The items the page follows one by one, as (key, title, bytes_total); all queued."""
        rows = [JobItem(key=key, title=title[:255], bytes_total=size) for key, title, size in items]
        with self._lock:
            ids = job_items_declare(job_id=self.job_id, items=rows)
            for row in rows:
                row.pk = ids[row.key]
            self._items = {row.key: row for row in rows}
            self._dirty.clear()

    def item_state(self, key: str, state: str, *, error: str = "") -> None:
        """Move a declared item on; an item that ends counts in items_done (and items_failed)."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return
            self._count_ended(item, state)
            item.state, item.error = state, error
            if state == JobItem.State.DONE:
                item.bytes_done = max(item.bytes_done, item.bytes_total)
            self._dirty.add(key)
            self._save_progress(force=False)

    def item_add_bytes(self, key: str, n: int) -> None:
        """Bytes of one declared item; they count in the job's bytes_done too."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                item.bytes_done += n
                self._dirty.add(key)
            self._progress["bytes_done"] += n
            self._save_progress(force=False)

    def _count_ended(self, item: JobItem, state: str) -> None:
        was_ended, ends = item.state in JobItem.ENDED_STATES, state in JobItem.ENDED_STATES
        if ends and not was_ended:
            self._progress["items_done"] += 1
            self._progress["items_failed"] += state == JobItem.State.FAILED

    def flush_progress(self) -> None:
        with self._lock:
            self._save_progress(force=True)

    def should_cancel(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if not self._cancelled and now - self._cancel_checked_at >= CANCEL_CHECK_INTERVAL:
                self._cancel_checked_at = now
                self._cancelled = job_is_cancelled(job_id=self.job_id, started_at=self.started_at)
            return self._cancelled

    def _save_progress(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._progress_written_at >= PROGRESS_WRITE_INTERVAL:
            self._progress_written_at = now
            job_progress_save(job_id=self.job_id, started_at=self.started_at, progress=dict(self._progress))
            job_items_save(items=[self._items[key] for key in sorted(self._dirty)])
            self._dirty.clear()


class _Heartbeat:
    """Proves the run is alive every JOB_HEARTBEAT_SECONDS, on its own thread and db connection."""

    def __init__(self, job_id: int, started_at: datetime) -> None:
        self._job_id = job_id
        self._started_at = started_at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job_id}-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                self._beat()
        finally:
            connection.close()  # this thread's own connection

    def _beat(self) -> None:
        try:
            job_heartbeat(job_id=self._job_id, started_at=self._started_at)
        except Exception:
            logger.warning("heartbeat of job %s failed", self._job_id, exc_info=True)


Work = Callable[[JobContext], None]


def run_job(*, job_id: int, operation: str, work: Work, task: Task[Any, Any] | None = None) -> str | None:
    """Claim the job and run the work; returns the final state, None when this message did nothing.

    `task` is the Celery task running this message (bound). The operation's `retry_for`
    exceptions send the job back to wait for a retry while retries are left (see
    jobs.services.job_retry_later)."""
    started_at = _claim(job_id, operation, _message_id(task))
    if started_at is None:
        return None
    job = Job.objects.select_related("user", "owner", "subject_type").get(pk=job_id)
    ctx = JobContext(job_id=job_id, job=job, started_at=started_at)
    retry_for = registry.get(operation).retry_for
    with _Heartbeat(job_id, started_at):
        state, error, exc = _run_work(work, ctx, retry_for)
        ctx.flush_progress()
    if isinstance(exc, JobWait) and job_wait_until(
        job_id=job_id, started_at=started_at, wait=exc.until, waiting_for=exc.waiting_for
    ):
        return Job.State.QUEUED
    waits = retry_for and isinstance(exc, retry_for)
    if waits and job_retry_later(job_id=job_id, started_at=started_at, why=error) is not None:
        return Job.State.QUEUED
    return job_finish(job_id=job_id, started_at=started_at, state=state, error=error)


def _message_id(task: Task[Any, Any] | None) -> str:
    return str(task.request.id or "") if task is not None else ""


def _claim(job_id: int, operation: str, message_id: str) -> datetime | None:
    """This run's start time, or None when this message is not to run the job."""
    claim, started_at = job_claim(job_id=job_id, operation=operation, message_id=message_id)
    if claim is Claim.ALIVE:
        claim, started_at = job_claim_when_silent(job_id=job_id, operation=operation)
    if claim is Claim.BLOCKED:
        job_wait_for_subject(job_id=job_id)
    return started_at if claim is Claim.CLAIMED else None


def _run_work(
    work: Work, ctx: JobContext, retry_for: tuple[type[Exception], ...] = ()
) -> tuple[str, str, Exception | None]:
    """(final state, error, the exception); a retry_for exception is not logged here, the retry
    (or its refusal) says it."""
    failure: Exception
    try:
        work(ctx)
    except JobCancelled:
        ctx.log_stdout("cancelled")
        return Job.State.CANCELLED, "", None
    except JobWait as exc:
        return Job.State.CANCELLED, "", exc
    except JobFailed as exc:
        error, failure = str(exc), exc
    except Exception as exc:
        logger.exception("job %s (%s) failed", ctx.job_id, ctx.job.operation)
        error, failure = f"{type(exc).__name__}: {exc}", exc
    else:
        return Job.State.SUCCEEDED, "", None
    if not isinstance(failure, retry_for):
        ctx.log_stderr(error)
    return Job.State.FAILED, error, failure


def job_task(operation: registry.Operation, **celery_options: Any) -> Callable[[Work], Any]:
    """Bind `work` to `operation` (declared in its app's `operations` module): its Celery task
    f"jobs.{operation.name}", taking (job_id) and run by run_job under the operation's policy."""
    registry.declare(operation)

    def decorator(work: Work) -> Any:
        def run(task: Task[Any, Any], job_id: int) -> str | None:
            return run_job(job_id=job_id, operation=operation.name, work=work, task=task)

        run.__name__, run.__qualname__, run.__doc__ = work.__name__, work.__qualname__, work.__doc__
        run.__module__ = work.__module__
        options = {
            "name": operation.task_name,
            "bind": True,
            "acks_late": True,
            "reject_on_worker_lost": True,
            "ignore_result": True,
            **celery_options,
        }
        return shared_task(**options)(run)

    return decorator
