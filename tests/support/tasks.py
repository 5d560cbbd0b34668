"""Job tasks used only by the test suite: tests/settings.py installs this app, so Celery finds them.

The work reads its parameter from the job row: `items_total` is the number of ticks.
"""

from __future__ import annotations

from jobs.registry import Operation, declare
from jobs.runner import JobCancelled, JobContext, JobFailed, JobRetryable, job_task
from jobs.services import job_cancel
from left4me.cancel import sleep_with_cancel

TEST_SLEEP = declare(Operation("test_sleep"))
TEST_RAISE = declare(Operation("test_raise"))
TEST_JOB_FAILED = declare(Operation("test_job_failed"))
TEST_BACKOFF = declare(Operation("test_backoff"))
TEST_IGNORE_CANCEL = declare(Operation("test_ignore_cancel"))
TEST_TRANSIENT = declare(Operation("test_transient", retry_for=(JobRetryable,)))

TICK_SECONDS = 0.1
DEFAULT_TICKS = 20


@job_task(TEST_SLEEP)
def test_sleep(ctx: JobContext) -> None:
    """Log and advance progress once per tick, stopping when cancelled."""
    ticks = ctx.job.items_total or DEFAULT_TICKS
    for tick in range(1, ticks + 1):
        ctx.log_stdout(f"tick {tick}/{ticks}")
        ctx.progress(items_done=tick, items_total=ticks, bytes_done=tick * 1024, bytes_total=ticks * 1024)
        if sleep_with_cancel(TICK_SECONDS, ctx.should_cancel):
            raise JobCancelled()
    ctx.log_stdout("done")


@job_task(TEST_RAISE)
def test_raise(ctx: JobContext) -> None:
    ctx.log_stdout("about to fail")
    raise ValueError("boom from the test")


@job_task(TEST_JOB_FAILED)
def test_job_failed(ctx: JobContext) -> None:
    raise JobFailed("could not do it: disk full")


@job_task(TEST_BACKOFF)
def test_backoff(ctx: JobContext) -> None:
    """One long backoff sleep, as a download retry does."""
    ctx.log_stdout("backing off")
    if sleep_with_cancel(60, ctx.should_cancel):
        ctx.log_stdout("woke up: cancelled")
        raise JobCancelled()


@job_task(TEST_IGNORE_CANCEL)
def test_ignore_cancel(ctx: JobContext) -> None:
    """Gets cancelled while it runs but never checks: it ends cancelled all the same."""
    job_cancel(job=ctx.job)
    ctx.log_stdout("finished without looking")


@job_task(TEST_TRANSIENT)
def test_transient(ctx: JobContext) -> None:
    """Fails as a build does while Steam is down, until its reason says "up" ("for good": a
    failure that will not pass)."""
    ctx.log_stdout("trying")
    if ctx.job.reason == "for good":
        raise JobFailed("HTTP 404")
    if ctx.job.reason != "up":
        raise JobRetryable("steam is down")
    ctx.log_stdout("done")
