from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from fleet.operations import REFRESH_WORKSHOP_ITEMS as REFRESH_ITEMS
from jobs import services
from jobs.models import Job, JobLogLine
from jobs.services import job_cancel, job_enqueue, job_log
from overlays.operations import BUILD_OVERLAY as BUILD
from overlays.operations import REFRESH_OVERLAY
from tests.support.helpers import SentMessages, make_job, make_overlay

pytestmark = pytest.mark.django_db


def test_enqueue_creates_a_queued_job_and_sends_its_message_on_commit(
    owner: User, overlay: Any, sent: SentMessages, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job, created = job_enqueue(operation=BUILD, user=owner, subject=overlay, owner=overlay.owner)
        assert sent.calls == []  # nothing leaves before the commit

    assert created is True
    job.refresh_from_db()
    assert (job.state, job.user, job.subject, job.owner) == (Job.State.QUEUED, owner, overlay, overlay.owner)
    assert job.dispatched_at is not None
    assert sent.calls == [
        {"name": "jobs.build_overlay", "args": [job.pk], "task_id": job.celery_task_id, "queue": "celery",
         "countdown": None}
    ]  # fmt: skip


def test_a_second_build_of_the_same_overlay_joins_the_queued_one(
    owner: User, overlay: Any, sent: SentMessages, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first, first_created = job_enqueue(operation=BUILD, user=owner, subject=overlay, owner=overlay.owner)
        second, second_created = job_enqueue(
            operation=BUILD, user=owner, subject=overlay, owner=overlay.owner
        )

    assert first_created is True and second_created is False
    assert second.pk == first.pk
    assert Job.objects.filter(operation=BUILD.name).count() == 1
    assert len(sent.calls) == 1


def test_build_coalesces_only_while_queued_and_per_overlay(
    owner: User, overlay: Any, sent: SentMessages
) -> None:
    other = make_overlay(owner, "versus")
    running = make_job(BUILD, subject=overlay, state=Job.State.RUNNING)

    job, created = job_enqueue(operation=BUILD, user=owner, subject=overlay, owner=overlay.owner)
    elsewhere, created_elsewhere = job_enqueue(operation=BUILD, user=owner, subject=other, owner=other.owner)
    refresh, refresh_created = job_enqueue(
        operation=REFRESH_OVERLAY, user=owner, subject=overlay, owner=overlay.owner
    )

    assert created and job.pk != running.pk  # a running build does not absorb a new request
    assert created_elsewhere and elsewhere.subject == other
    assert refresh_created  # another operation is its own queue
    assert job_enqueue(operation=REFRESH_OVERLAY, user=owner, subject=overlay, owner=overlay.owner) == (
        refresh,
        False,
    )


def test_one_global_refresh_queued_or_running(sent: SentMessages) -> None:
    first, created = job_enqueue(operation=REFRESH_ITEMS)
    assert created
    assert job_enqueue(operation=REFRESH_ITEMS) == (first, False)

    Job.objects.filter(pk=first.pk).update(state=Job.State.RUNNING)
    assert job_enqueue(operation=REFRESH_ITEMS) == (first, False)

    Job.objects.filter(pk=first.pk).update(state=Job.State.SUCCEEDED)
    again, created = job_enqueue(operation=REFRESH_ITEMS)
    assert created and again.pk != first.pk


@pytest.mark.django_db(transaction=True)
def test_simultaneous_global_refresh_requests_make_one_job(
    monkeypatch: pytest.MonkeyPatch, sent: SentMessages
) -> None:
    look = services._coalescable_job

    def slow_look(*args: object) -> Job | None:
        found = look(*args)
        time.sleep(0.3)  # every request looks before any creates, unless enqueue is serialised
        return found

    monkeypatch.setattr(services, "_coalescable_job", slow_look)
    barrier, created = threading.Barrier(4), []

    def request() -> None:
        barrier.wait()
        try:
            created.append(job_enqueue(operation=REFRESH_ITEMS)[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(created) == [False, False, False, True]
    assert Job.objects.filter(operation=REFRESH_ITEMS.name).count() == 1


def test_a_failed_send_leaves_the_job_queued_for_the_reaper(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    from left4me.celery import app

    def broker_down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = job_enqueue(operation=REFRESH_ITEMS)
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


def test_cancel_queued_job_is_cancelled_at_once_and_its_message_revoked(
    sent: SentMessages, revoked: list[str], django_capture_on_commit_callbacks
) -> None:
    job = make_job(celery_task_id="task-1")

    with django_capture_on_commit_callbacks(execute=True):
        job_cancel(job=job)

    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert job.finished_at is not None
    assert revoked == ["task-1"]
    assert list(job.lines.values_list("text", flat=True)) == ["cancelled before it started"]


def test_cancel_running_job_asks_it_to_stop(revoked: list[str], django_capture_on_commit_callbacks) -> None:
    job = make_job(state=Job.State.RUNNING, celery_task_id="task-2")

    with django_capture_on_commit_callbacks(execute=True):
        result = job_cancel(job=job)

    assert result.state == Job.State.CANCELLING
    assert result.finished_at is None
    assert revoked == []


@pytest.mark.parametrize(
    "state", [Job.State.SUCCEEDED, Job.State.FAILED, Job.State.CANCELLED, Job.State.CANCELLING]
)
def test_cancel_changes_nothing_once_the_job_ended_or_is_stopping(state: str, revoked: list[str]) -> None:
    job = make_job(state=state)
    assert job_cancel(job=job).state == state
    assert not job.lines.exists()
    assert revoked == []


def test_log_lines_get_increasing_sequence_numbers() -> None:
    job = make_job()
    job_log(job_id=job.pk, text="one")
    job_log(job_id=job.pk, text="two", stream=JobLogLine.Stream.STDERR)
    job_log(job_id=job.pk, text="three")

    lines = list(job.lines.values_list("seq", "stream", "text"))
    assert lines == [(1, "stdout", "one"), (2, "stderr", "two"), (3, "stdout", "three")]
