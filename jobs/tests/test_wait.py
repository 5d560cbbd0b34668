"""A job that waits in its row for something other than a retry (jobs.runner.JobWait)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.runner import JobWait, run_job
from jobs.services import job_reap_stale
from tests.support.helpers import SentMessages, make_job

pytestmark = pytest.mark.django_db


def test_a_wait_leaves_the_job_queued_until_its_time_without_a_retry(sent: SentMessages) -> None:
    job = make_job()
    until = timezone.now() + timedelta(minutes=1)

    def work(ctx: object) -> None:
        raise JobWait("waiting for 'Versus #1' to empty (3 players)", until)

    assert run_job(job_id=job.pk, operation="test_sleep", work=work) == "queued"
    assert run_job(job_id=job.pk, operation="test_sleep", work=work) is None  # not due: not claimed
    job.refresh_from_db()
    assert (job.state, job.retries, job.retry_at, job.error) == ("queued", 0, until, "")
    at = timezone.localtime(until).strftime("%H:%M")
    assert job.retry_text == f"waiting for 'Versus #1' to empty (3 players) · next check {at}"
    assert list(job.lines.values_list("text", flat=True)) == ["waiting for 'Versus #1' to empty (3 players)"]


def test_the_housekeeping_sends_it_when_due_and_the_same_wait_logs_once(sent: SentMessages) -> None:
    job = make_job()

    def wait(ctx: object) -> None:
        raise JobWait("waiting for 'Versus #1' to empty (1 player)", timezone.now() - timedelta(seconds=1))

    run_job(job_id=job.pk, operation="test_sleep", work=wait)
    assert job_reap_stale()["retried"] == 1
    assert Job.objects.get(pk=job.pk).retry_at is None  # sent (once the transaction commits)
    assert run_job(job_id=job.pk, operation="test_sleep", work=wait) == "queued"
    job_reap_stale()
    assert run_job(job_id=job.pk, operation="test_sleep", work=lambda ctx: None) == "succeeded"
    job.refresh_from_db()
    assert (job.state, job.waiting_for) == ("succeeded", "")
    assert job.lines.count() == 1
    assert Job.objects.get(pk=job.pk).retry_text == ""
