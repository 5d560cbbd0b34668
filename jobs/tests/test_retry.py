"""Task-level retries of failures that may pass, and the take-over of a job whose worker was lost."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import registry
from jobs.models import Job
from jobs.services import (
    TAKEN_OVER,
    Claim,
    job_cancel,
    job_claim,
    job_claim_when_silent,
    job_enqueue,
    job_reap_stale,
    retry_countdown,
)
from jobs.tests.test_runner import _race_two_claims
from overlays.operations import BUILD_OVERLAY
from tests.support import tasks as test_tasks
from tests.support.helpers import SentMessages, make_job

pytestmark = pytest.mark.django_db


def _ago(seconds: float) -> timezone.datetime:
    return timezone.now() - timedelta(seconds=seconds)


def _texts(job: Job) -> list[str]:
    return list(job.lines.order_by("seq").values_list("text", flat=True))


def _clock(moment: timezone.datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


# --- the schedule ------------------------------------------------------------------------


def test_retries_wait_the_first_delay_then_three_times_longer(settings) -> None:
    settings.JOB_RETRY_JITTER = 0
    assert [retry_countdown(n) for n in (1, 2, 3)] == [300, 900, 2700]
    settings.JOB_RETRY_FIRST_MINUTES = 0.5
    assert retry_countdown(2) == 90


def test_the_jitter_stays_within_ten_percent(settings) -> None:
    waits = {retry_countdown(1) for _ in range(200)}
    assert min(waits) >= 270 and max(waits) <= 330
    assert len(waits) > 100  # not one fixed value


# --- a transient failure -----------------------------------------------------------------


def test_a_transient_failure_waits_queued_with_its_retry_time_and_a_log_line(
    sent: SentMessages, django_capture_on_commit_callbacks
) -> None:
    job = make_job("test_transient", celery_task_id="first")

    with django_capture_on_commit_callbacks(execute=True):
        test_tasks.test_transient.apply(args=[job.pk])

    job.refresh_from_db()
    assert (job.state, job.retries, job.started_at, job.heartbeat_at) == (Job.State.QUEUED, 1, None, None)
    wait = (job.retry_at - timezone.now()).total_seconds()
    assert 265 < wait <= 330
    at = _clock(job.retry_at)
    assert _texts(job) == ["trying", f"attempt 1/4 failed (transient): steam is down; retrying at {at} (1/3)"]
    assert job.retry_text == f"waiting to retry at {at} (1/3)"
    assert job.error == ""
    assert sent.calls == []  # no message waits in the broker: the reaper sends one when due


def test_the_next_attempt_counts_on_and_success_clears_the_wait(sent: SentMessages) -> None:
    job = make_job("test_transient", state=Job.State.QUEUED, retries=2, reason="up")

    test_tasks.test_transient.apply(args=[job.pk])

    job.refresh_from_db()
    assert (job.state, job.retries, job.retry_at, job.retry_text) == (Job.State.SUCCEEDED, 2, None, "")


def test_when_the_retries_are_used_up_the_job_fails(settings, sent: SentMessages) -> None:
    job = make_job("test_transient", retries=3)

    test_tasks.test_transient.apply(args=[job.pk])

    job.refresh_from_db()
    assert (job.state, job.error, job.retries) == (Job.State.FAILED, "steam is down", 3)
    assert _texts(job)[-1] == "attempt 4/4 failed (transient): steam is down; no retries left"
    assert sent.calls == []


def test_no_retries_configured_fails_at_once(settings, sent: SentMessages) -> None:
    settings.JOB_RETRIES = 0
    job = make_job("test_transient")
    test_tasks.test_transient.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert _texts(job)[-1] == "attempt 1/1 failed (transient): steam is down; no retries left"


def test_a_permanent_failure_is_not_retried(sent: SentMessages) -> None:
    job = make_job("test_transient", reason="for good")
    test_tasks.test_transient.apply(args=[job.pk])
    job.refresh_from_db()
    assert (job.state, job.error, job.retries) == (Job.State.FAILED, "HTTP 404", 0)
    assert _texts(job) == ["trying", "HTTP 404"]
    assert sent.calls == []


def test_an_operation_without_a_retry_policy_fails_on_a_transient_error(monkeypatch, sent) -> None:
    monkeypatch.setitem(
        registry._operations, "test_transient", replace(test_tasks.TEST_TRANSIENT, retry_for=())
    )
    job = make_job("test_transient")
    test_tasks.test_transient.apply(args=[job.pk])
    job.refresh_from_db()
    assert (job.state, job.error) == (Job.State.FAILED, "steam is down")


def test_a_message_before_the_retry_time_does_nothing(sent: SentMessages) -> None:
    job = make_job("test_transient", retries=1, retry_at=timezone.now() + timedelta(minutes=5), reason="up")
    test_tasks.test_transient.apply(args=[job.pk])
    job.refresh_from_db()
    assert (job.state, job.retries) == (Job.State.QUEUED, 1)
    assert not job.lines.exists()


def test_cancel_of_a_waiting_job_ends_it_at_once(
    revoked: list[str], django_capture_on_commit_callbacks
) -> None:
    job = make_job(
        "test_transient", retries=1, retry_at=timezone.now() + timedelta(minutes=5), celery_task_id="m1"
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = job_cancel(job=job)
    assert (job.state, job.finished_at is not None) == (Job.State.CANCELLED, True)
    assert _texts(job) == ["cancelled while waiting to retry"]
    assert job_reap_stale()["retried"] == 0


def test_the_reaper_sends_a_waiting_job_when_its_time_has_come(
    settings, sent: SentMessages, django_capture_on_commit_callbacks
) -> None:
    settings.JOB_QUEUED_REDISPATCH_SECONDS = 60
    waiting = make_job(retries=1, retry_at=timezone.now() + timedelta(minutes=40))
    long_waiting = make_job(retries=3, retry_at=timezone.now() + timedelta(minutes=40))
    Job.objects.filter(pk=long_waiting.pk).update(created_at=_ago(7200))  # not taken for a lost one
    due = make_job(retries=1, retry_at=_ago(1))
    lost = make_job(dispatched_at=_ago(120))

    with django_capture_on_commit_callbacks(execute=True):
        counts = job_reap_stale()

    assert (counts["retried"], counts["redispatched"]) == (1, 1)
    due.refresh_from_db()
    assert (due.state, due.retry_at, due.retries) == (Job.State.QUEUED, None, 1)
    assert sorted(call["task_id"] for call in sent.calls) == sorted(
        Job.objects.filter(pk__in=[due.pk, lost.pk]).values_list("celery_task_id", flat=True)
    )
    for job in (waiting, long_waiting):
        job.refresh_from_db()
        assert job.retry_at is not None and not job.lines.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert job_reap_stale()["retried"] == 0  # sent once


def test_a_new_request_for_a_waiting_build_runs_it_now(
    overlay, sent: SentMessages, django_capture_on_commit_callbacks
) -> None:
    job, _ = job_enqueue(operation=BUILD_OVERLAY, subject=overlay, owner=overlay.owner, reason="added 1 item")
    Job.objects.filter(pk=job.pk).update(
        retries=2, retry_at=timezone.now() + timedelta(minutes=15), celery_task_id="waiting-message"
    )
    sent.calls.clear()

    with django_capture_on_commit_callbacks(execute=True):
        again, created = job_enqueue(
            operation=BUILD_OVERLAY, subject=overlay, owner=overlay.owner, reason="added 2 items"
        )

    job.refresh_from_db()
    assert (again.pk, created) == (job.pk, False)
    assert (job.state, job.retry_at, job.retries) == (Job.State.QUEUED, None, 2)  # the count stays
    assert job.reason == "added 1 item; added 2 items"
    assert [(call["task_id"], call["countdown"]) for call in sent.calls] == [(job.celery_task_id, None)]
    assert _texts(job)[-1] == "asked again: trying now instead of waiting"


# --- take-over of a job whose worker was lost ----------------------------------------------


def _running(heartbeat_ago: float, **fields: object) -> Job:
    return make_job(state=Job.State.RUNNING, started_at=_ago(600), heartbeat_at=_ago(heartbeat_ago), **fields)


def test_a_message_takes_over_a_job_whose_heartbeat_is_two_intervals_old(settings) -> None:
    settings.JOB_HEARTBEAT_SECONDS = 10
    job = _running(21, items_done=5, bytes_done=999, celery_task_id="m1")

    claim, started_at = job_claim(job_id=job.pk, message_id="m1")

    job.refresh_from_db()
    assert claim is Claim.CLAIMED
    assert (job.state, job.started_at, job.heartbeat_at) == (Job.State.RUNNING, started_at, started_at)
    assert (job.requeues, job.items_done, job.bytes_done) == (1, 0, 0)
    assert _texts(job) == [TAKEN_OVER] == ["worker lost; taken over by a redelivered message"]


@pytest.mark.parametrize(
    "message_id, expected", [("m1", Claim.ALIVE), ("other", Claim.SKIPPED), ("", Claim.SKIPPED)]
)
def test_a_job_whose_heartbeat_is_fresh_is_not_taken_over(settings, message_id, expected) -> None:
    settings.JOB_HEARTBEAT_SECONDS = 10
    job = _running(19, celery_task_id="m1")
    before = Job.objects.get(pk=job.pk)

    assert job_claim(job_id=job.pk, message_id=message_id) == (expected, None)

    job.refresh_from_db()
    assert (job.started_at, job.heartbeat_at, job.requeues) == (before.started_at, before.heartbeat_at, 0)
    assert not job.lines.exists()


@pytest.mark.django_db(transaction=True)
def test_two_messages_taking_over_the_same_job_exactly_one_wins(settings) -> None:
    settings.JOB_HEARTBEAT_SECONDS = 10
    for _ in range(5):
        job = _running(60)
        assert _race_two_claims(job.pk) == ["claimed", "skipped"]
        job.refresh_from_db()
        assert job.requeues == 1
        assert _texts(job) == [TAKEN_OVER]


def test_a_take_over_past_the_requeue_limit_fails_the_job(settings) -> None:
    settings.JOB_HEARTBEAT_SECONDS = 10
    settings.JOB_MAX_REQUEUES = 2
    job = _running(60, requeues=2)

    assert job_claim(job_id=job.pk)[0] is Claim.SKIPPED

    job.refresh_from_db()
    assert (job.state, job.error) == (Job.State.FAILED, "worker lost")
    assert _texts(job) == ["worker lost; failed after 2 re-queues"]


def test_its_own_message_waits_for_the_heartbeat_to_go_silent_then_takes_over(settings) -> None:
    settings.JOB_HEARTBEAT_SECONDS = 0.2
    job = _running(0)
    begin = time.monotonic()

    claim, _ = job_claim_when_silent(job_id=job.pk, operation="test_sleep")

    assert claim is Claim.CLAIMED
    assert 0.4 <= time.monotonic() - begin < 2


def test_its_own_message_does_nothing_when_the_run_beats_meanwhile(settings) -> None:
    settings.JOB_HEARTBEAT_SECONDS = 0.2
    job = _running(0)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() + timedelta(seconds=5))  # beats on

    assert job_claim_when_silent(job_id=job.pk, operation="test_sleep") == (Claim.SKIPPED, None)
    assert Job.objects.get(pk=job.pk).requeues == 0


def test_a_redelivered_message_of_a_running_job_waits_then_runs_it_again(settings) -> None:
    """What a killed pool child's message does when it comes straight back (the whole runner)."""
    settings.JOB_HEARTBEAT_SECONDS = 0.2
    job = _running(0, items_total=1)
    result = test_tasks.test_sleep.apply(args=[job.pk], task_id="m1")
    assert result.get() is None  # not its message: a duplicate does nothing
    Job.objects.filter(pk=job.pk).update(celery_task_id="m1", heartbeat_at=timezone.now())

    assert test_tasks.test_sleep.apply(args=[job.pk], task_id="m1").get() == Job.State.SUCCEEDED

    job.refresh_from_db()
    assert (job.state, job.requeues) == (Job.State.SUCCEEDED, 1)
    assert _texts(job) == [TAKEN_OVER, "tick 1/1", "done"]


# --- the pages -----------------------------------------------------------------------------


def test_the_job_page_and_its_status_say_when_a_waiting_job_retries(owner, owner_client) -> None:
    retry_at = timezone.now() + timedelta(minutes=15)
    job = make_job("test_transient", user=owner, retries=2, retry_at=retry_at)
    text = f"waiting to retry at {_clock(retry_at)} (2/3)"

    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    status = owner_client.get(f"/jobs/{job.pk}/status/").json()
    listing = owner_client.get("/jobs/").content.decode()

    assert f'<span id="job-retry">{text}</span>' in page
    assert (status["state"], status["retry_text"], status["retries"]) == ("queued", text, 2)
    assert text in listing


def test_the_retry_line_is_hidden_once_the_job_runs(owner, owner_client) -> None:
    job = make_job("test_transient", user=owner, retries=1, state=Job.State.RUNNING)
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<span id="job-retry" hidden></span>' in page
    assert owner_client.get(f"/jobs/{job.pk}/status/").json()["retry_text"] == ""
