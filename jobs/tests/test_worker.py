"""A real worker process and a real Redis: jobs run, and a worker killed mid-job loses nothing."""

from __future__ import annotations

import os
import signal
import time

import pytest

from jobs.models import Job
from jobs.services import job_dispatch, job_enqueue
from left4me.celery import app
from tests.support import tasks as test_tasks
from tests.support.helpers import make_job
from tests.support.workers import running_worker, start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {"JOB_HEARTBEAT_SECONDS": "0.2", "JOB_STALE_AFTER_SECONDS": "1"}


def _state(job: Job) -> str:
    return Job.objects.values_list("state", flat=True).get(pk=job.pk)


def _texts(job: Job) -> list[str]:
    return list(job.lines.order_by("seq").values_list("text", flat=True))


def test_a_real_worker_runs_a_job_to_the_end() -> None:
    with running_worker(concurrency=1, **FAST):
        job, _ = job_enqueue(operation=test_tasks.TEST_SLEEP)  # committed at once: the message goes out now
        wait_for(lambda: _state(job) in Job.FINAL_STATES, timeout=90)

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert _texts(job)[-1] == "done"
    assert job.heartbeat_at > job.started_at


def test_a_job_of_a_killed_worker_is_requeued_by_the_reaper_and_completed_by_the_next() -> None:
    job = make_job(items_total=30)
    first = start_worker(concurrency=1, **FAST)
    try:
        job_dispatch(job=job)
        wait_for(lambda: job.lines.count() >= 3, timeout=90)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        stop_worker(first)
    assert _state(job) == Job.State.RUNNING  # nobody told the database

    with running_worker(concurrency=1, **FAST):
        time.sleep(1.5)  # the heartbeat goes stale
        app.send_task("jobs.reap_stale_jobs")  # what celery-beat does every JOB_REAPER_INTERVAL_SECONDS
        wait_for(lambda: _state(job) in Job.FINAL_STATES, timeout=90)

    job.refresh_from_db()
    texts = _texts(job)
    assert job.state == Job.State.SUCCEEDED
    assert job.requeues == 1
    assert "worker lost; re-queued" in texts
    assert texts.count("tick 1/30") == 2  # the work ran again from the start
    assert texts[-1] == "done"
    assert not Job.objects.filter(state__in=Job.ACTIVE_STATES).exists()
