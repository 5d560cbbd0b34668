from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jobs.models import Job
from jobs.services import job_reap_stale
from jobs.tasks import reap_stale_jobs
from tests.support.helpers import SentMessages, make_job

pytestmark = pytest.mark.django_db


def _ago(seconds: float) -> timezone.datetime:
    return timezone.now() - timedelta(seconds=seconds)


def _stale_running(**fields: object) -> Job:
    return make_job(state=Job.State.RUNNING, started_at=_ago(600), heartbeat_at=_ago(500), **fields)


def test_a_stale_running_job_is_requeued_with_a_new_message(
    settings, sent: SentMessages, django_capture_on_commit_callbacks
) -> None:
    settings.JOB_STALE_AFTER_SECONDS = 120
    job = _stale_running(celery_task_id="old")
    fresh = make_job(state=Job.State.RUNNING, started_at=_ago(600), heartbeat_at=_ago(5))

    with django_capture_on_commit_callbacks(execute=True):
        counts = job_reap_stale()

    job.refresh_from_db()
    fresh.refresh_from_db()
    assert counts == {"requeued": 1, "failed": 0, "cancelled": 0, "redispatched": 0, "retried": 0}
    assert (job.state, job.requeues) == (Job.State.QUEUED, 1)
    assert job.celery_task_id != "old"
    assert sent.job_ids == [job.pk]
    assert list(job.lines.values_list("stream", "text")) == [("stderr", "worker lost; re-queued")]
    assert fresh.state == Job.State.RUNNING  # its heartbeat is recent


def test_a_job_without_heartbeat_is_judged_by_its_start(settings, sent: SentMessages) -> None:
    settings.JOB_STALE_AFTER_SECONDS = 120
    job = make_job(state=Job.State.RUNNING, started_at=_ago(300))
    assert job_reap_stale()["requeued"] == 1
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


def test_after_the_last_requeue_a_lost_job_fails(settings, sent: SentMessages) -> None:
    settings.JOB_MAX_REQUEUES = 2
    job = _stale_running(requeues=2)

    assert job_reap_stale()["failed"] == 1

    job.refresh_from_db()
    assert (job.state, job.error) == (Job.State.FAILED, "worker lost")
    assert job.finished_at is not None
    assert sent.calls == []
    assert job.lines.get().text == "worker lost; failed after 2 re-queues"


def test_requeue_until_the_limit_then_fail(settings, sent: SentMessages) -> None:
    settings.JOB_MAX_REQUEUES = 1
    job = _stale_running()

    job_reap_stale()  # re-queued; pretend a worker took it and died again
    Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING, heartbeat_at=_ago(500))
    job_reap_stale()

    job.refresh_from_db()
    assert (job.state, job.requeues, job.error) == (Job.State.FAILED, 1, "worker lost")


def test_a_stale_cancelling_job_becomes_cancelled(sent: SentMessages) -> None:
    job = make_job(state=Job.State.CANCELLING, started_at=_ago(600), heartbeat_at=_ago(500))

    assert job_reap_stale()["cancelled"] == 1

    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert job.finished_at is not None
    assert sent.calls == []


def test_a_short_stale_limit_can_be_given(sent: SentMessages) -> None:
    job = make_job(state=Job.State.RUNNING, started_at=_ago(3), heartbeat_at=_ago(2))
    assert job_reap_stale()["requeued"] == 0
    assert job_reap_stale(stale_after_seconds=1)["requeued"] == 1
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


def test_a_queued_job_whose_message_was_lost_is_sent_again(settings, sent: SentMessages) -> None:
    settings.JOB_QUEUED_REDISPATCH_SECONDS = 600
    lost = make_job(dispatched_at=_ago(700), celery_task_id="lost")
    waiting = make_job(dispatched_at=_ago(60))

    assert job_reap_stale()["redispatched"] == 1

    lost.refresh_from_db()
    assert lost.state == Job.State.QUEUED
    assert lost.celery_task_id != "lost"
    assert lost.dispatched_at > _ago(60)
    assert lost.lines.get().text == "no worker took the job; sent again"
    assert not waiting.lines.exists()


@pytest.mark.parametrize("state", [Job.State.SUCCEEDED, Job.State.FAILED, Job.State.CANCELLED])
def test_finished_jobs_are_left_alone(state: str, sent: SentMessages) -> None:
    job = make_job(state=state, started_at=_ago(600), heartbeat_at=_ago(500), dispatched_at=_ago(9000))
    assert not any(job_reap_stale(stale_after_seconds=1).values())
    job.refresh_from_db()
    assert job.state == state


def test_the_reaper_task_runs_the_service(sent: SentMessages) -> None:
    _stale_running()
    assert reap_stale_jobs.apply().get()["requeued"] == 1


def test_the_reaper_is_scheduled_by_celery_beat(settings) -> None:
    task = PeriodicTask.objects.get(name="left4me: reap stale jobs")
    assert task.task == "jobs.reap_stale_jobs"
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (settings.JOB_REAPER_INTERVAL_SECONDS, "seconds")


def test_the_schedule_migration_keeps_an_operators_edits() -> None:
    from importlib import import_module

    from django.apps import apps

    migration = import_module("jobs.migrations.0003_reaper_schedule")
    task = PeriodicTask.objects.get(name=migration.REAPER_NAME)
    task.enabled = False
    task.save()

    migration.create_reaper_schedule(apps, None)

    task.refresh_from_db()
    assert task.enabled is False
    assert PeriodicTask.objects.filter(name=migration.REAPER_NAME).count() == 1
