from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings

from fleet.operations import REFRESH_WORKSHOP_ITEMS
from jobs import registry, services
from jobs.models import Job
from jobs.runner import JobContext, job_task
from jobs.services import Claim, job_cancel, job_claim, job_enqueue
from left4me.cancel import sleep_with_cancel
from overlays.operations import BUILD_OVERLAY as BUILD
from overlays.operations import REFRESH_OVERLAY
from tests.support import tasks as test_tasks
from tests.support.helpers import SentMessages, make_job, make_overlay
from tests.support.workers import wait_for

pytestmark = pytest.mark.django_db


def _texts(job: Job) -> list[str]:
    return list(job.lines.order_by("seq").values_list("text", flat=True))


def _in_thread(target: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- the claim ---------------------------------------------------------------------------


def test_claim_moves_queued_to_running_once() -> None:
    job = make_job()

    first, started_at = job_claim(job_id=job.pk)
    second, _ = job_claim(job_id=job.pk)

    job.refresh_from_db()
    assert (first, second) == (Claim.CLAIMED, Claim.SKIPPED)
    assert job.state == Job.State.RUNNING
    assert job.started_at == started_at == job.heartbeat_at


def _race_two_claims(job_id: int) -> list[str]:
    barrier = threading.Barrier(2)
    results: list[str] = []

    def claim() -> None:
        barrier.wait()
        results.append(job_claim(job_id=job_id)[0].value)

    for thread in [_in_thread(claim), _in_thread(claim)]:
        thread.join(timeout=30)
    return sorted(results)


@pytest.mark.django_db(transaction=True)
def test_two_threads_claiming_the_same_job_exactly_one_wins() -> None:
    for _ in range(5):
        job = make_job()
        assert _race_two_claims(job.pk) == ["claimed", "skipped"]
        job.refresh_from_db()
        assert job.state == Job.State.RUNNING


def test_claim_ignores_a_message_for_another_operation_or_a_missing_job() -> None:
    job = make_job("test_raise")
    assert job_claim(job_id=job.pk, operation="test_sleep")[0] is Claim.SKIPPED
    assert job_claim(job_id=job.pk + 1000)[0] is Claim.SKIPPED
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


@pytest.mark.parametrize("busy_operation", [BUILD, "refresh_overlay"])
@pytest.mark.parametrize("busy_state", [Job.State.RUNNING, Job.State.CANCELLING])
def test_a_build_waits_while_the_overlay_has_a_running_job(
    overlay: Any, busy_operation: str, busy_state: str
) -> None:
    make_job(busy_operation, subject=overlay, state=busy_state)
    waiting = make_job(BUILD, subject=overlay)
    elsewhere = make_job(BUILD, subject=make_overlay(overlay.owner, "other"))

    assert job_claim(job_id=waiting.pk)[0] is Claim.BLOCKED
    assert job_claim(job_id=elsewhere.pk)[0] is Claim.CLAIMED
    waiting.refresh_from_db()
    assert waiting.state == Job.State.QUEUED


def test_a_blocked_build_is_sent_again_later_and_runs_after_the_other_ends(
    overlay: Any, sent: SentMessages, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    # test_sleep stands in for a build: same exclusive group.
    exclusive = replace(registry.get("test_sleep"), exclusive_per="overlay files")
    monkeypatch.setitem(registry._operations, "test_sleep", exclusive)
    running = make_job(subject=overlay, state=Job.State.RUNNING)
    waiting = make_job(subject=overlay, items_total=1)

    with django_capture_on_commit_callbacks(execute=True):
        test_tasks.test_sleep.apply(args=[waiting.pk])
        test_tasks.test_sleep.apply(args=[waiting.pk])

    waiting.refresh_from_db()
    assert waiting.state == Job.State.QUEUED
    assert [call["countdown"] for call in sent.calls] == [services.BLOCKED_RETRY_SECONDS] * 2
    assert sent.calls[-1]["task_id"] == waiting.celery_task_id
    assert _texts(waiting) == ["waiting for the running job of this overlay to end"]  # said once

    Job.objects.filter(pk=running.pk).update(state=Job.State.SUCCEEDED)
    test_tasks.test_sleep.apply(args=[waiting.pk])
    waiting.refresh_from_db()
    assert waiting.state == Job.State.SUCCEEDED


# --- outcomes ----------------------------------------------------------------------------


def test_success_records_log_progress_and_times() -> None:
    job = make_job(items_total=3)

    test_tasks.test_sleep.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.started_at <= job.finished_at
    assert (job.items_done, job.items_total, job.bytes_done, job.bytes_total) == (3, 3, 3072, 3072)
    assert _texts(job) == ["tick 1/3", "tick 2/3", "tick 3/3", "done"]
    assert list(job.lines.values_list("seq", flat=True)) == [1, 2, 3, 4]
    assert job.error == ""


def test_an_uncaught_exception_fails_the_job_with_its_text() -> None:
    job = make_job("test_raise")

    test_tasks.test_raise.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.error == "ValueError: boom from the test"
    assert job.finished_at is not None
    assert list(job.lines.values_list("stream", "text")) == [
        ("stdout", "about to fail"),
        ("stderr", "ValueError: boom from the test"),
    ]


def test_job_failed_keeps_its_message_verbatim() -> None:
    job = make_job("test_job_failed")
    test_tasks.test_job_failed.apply(args=[job.pk])
    job.refresh_from_db()
    assert (job.state, job.error) == (Job.State.FAILED, "could not do it: disk full")


def test_a_cancel_seen_only_at_the_end_still_ends_cancelled() -> None:
    job = make_job("test_ignore_cancel")
    test_tasks.test_ignore_cancel.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert job.finished_at is not None


@pytest.mark.parametrize("state", [Job.State.RUNNING, Job.State.SUCCEEDED, Job.State.CANCELLED])
def test_a_redelivered_message_for_a_job_not_queued_does_nothing(state: str) -> None:
    job = make_job(items_total=1, state=state)
    test_tasks.test_sleep.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.state == state
    assert not job.lines.exists()


@pytest.mark.django_db(transaction=True)
def test_cancel_while_running_the_work_sees_it_and_stops() -> None:
    job = make_job(items_total=500)
    thread = _in_thread(lambda: test_tasks.test_sleep.apply(args=[job.pk]))
    wait_for(lambda: job.lines.count() >= 2, timeout=20)

    assert job_cancel(job=job).state == Job.State.CANCELLING
    thread.join(timeout=10)

    job.refresh_from_db()
    assert not thread.is_alive()
    assert job.state == Job.State.CANCELLED
    assert _texts(job)[-1] == "cancelled"
    assert job.items_done < 500


@pytest.mark.django_db(transaction=True)
def test_cancel_during_a_backoff_sleep_wakes_it_within_a_second() -> None:
    job = make_job("test_backoff")
    thread = _in_thread(lambda: test_tasks.test_backoff.apply(args=[job.pk]))
    wait_for(lambda: "backing off" in _texts(job), timeout=20, interval=0.02)

    cancelled_at = time.monotonic()
    job_cancel(job=job)
    wait_for(lambda: "woke up: cancelled" in _texts(job), timeout=10, interval=0.02)
    woke_after = time.monotonic() - cancelled_at
    thread.join(timeout=10)

    job.refresh_from_db()
    assert woke_after < 1.0
    assert job.state == Job.State.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_heartbeat_advances_while_the_work_runs_and_its_thread_ends(settings) -> None:
    settings.JOB_HEARTBEAT_SECONDS = 0.1
    job = make_job(items_total=5)

    test_tasks.test_sleep.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.heartbeat_at > job.started_at
    assert not [t for t in threading.enumerate() if t.name.endswith("-heartbeat")]


@pytest.mark.django_db(transaction=True)
def test_context_methods_are_safe_from_many_threads() -> None:
    job = make_job(state=Job.State.RUNNING)
    Job.objects.filter(pk=job.pk).update(started_at=job.created_at)
    ctx = JobContext(job_id=job.pk, job=job, started_at=job.created_at)

    def work(n: int) -> None:
        for i in range(10):
            ctx.add_bytes(100)
            ctx.log_stdout(f"thread {n} line {i}")

    threads = [_in_thread(lambda n=n: work(n)) for n in range(4)]
    for thread in threads:
        thread.join(timeout=60)
    ctx.flush_progress()

    job.refresh_from_db()
    assert job.bytes_done == 4000
    assert list(job.lines.values_list("seq", flat=True)) == list(range(1, 41))


# --- sleep_with_cancel -------------------------------------------------------------------


def test_sleep_with_cancel_sleeps_fully_when_not_cancelled() -> None:
    started = time.monotonic()
    assert sleep_with_cancel(0.2, lambda: False, poll_interval=0.02) is False
    assert time.monotonic() - started >= 0.2


def test_sleep_with_cancel_wakes_promptly_on_cancel() -> None:
    flag = threading.Event()
    threading.Timer(0.1, flag.set).start()
    started = time.monotonic()
    assert sleep_with_cancel(30, flag.is_set) is True
    assert time.monotonic() - started < 0.5


# --- routing -----------------------------------------------------------------------------


def test_each_operation_sends_its_jobs_to_its_queue(
    overlay: Any, sent: SentMessages, django_capture_on_commit_callbacks
) -> None:
    with override_settings(LEFT4ME_WORKER_QUEUE="host-a"), django_capture_on_commit_callbacks(execute=True):
        build, _ = job_enqueue(operation=BUILD, subject=overlay, owner=overlay.owner)
        refresh, _ = job_enqueue(operation=REFRESH_OVERLAY, subject=overlay, owner=overlay.owner)
        everything, _ = job_enqueue(operation=REFRESH_WORKSHOP_ITEMS)
    assert [build.queue, refresh.queue, everything.queue] == ["host-a", "host-a", "celery"]
    assert [call["queue"] for call in sent.calls] == ["host-a", "host-a", "celery"]


def test_job_task_binds_the_work_to_its_operation() -> None:
    routed_work = registry.Operation(
        "test_routed", label="Routed work", coalesce="queued", queue=lambda subject, host: "host-b"
    )

    @job_task(routed_work)
    def routed(ctx: JobContext) -> None:
        pass

    try:
        assert registry.get("test_routed") is routed_work
        assert routed_work.task_name == routed.name == "jobs.test_routed"
        assert (routed_work.label, routed_work.coalesce, routed_work.queue(None, None)) == (
            "Routed work",
            "queued",
            "host-b",
        )
    finally:
        registry.undeclare("test_routed")


def test_a_build_message_lands_in_the_worker_queue_in_redis(
    overlay: Any, django_capture_on_commit_callbacks
) -> None:
    queue = f"left4me-test-host-{time.monotonic_ns()}"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        with override_settings(LEFT4ME_WORKER_QUEUE=queue), django_capture_on_commit_callbacks(execute=True):
            job, _ = job_enqueue(operation=BUILD, subject=overlay, owner=overlay.owner)
        messages = broker.lrange(queue, 0, -1)
        assert len(messages) == 1
        assert job.celery_task_id.encode() in messages[0]
        assert b"jobs.build_overlay" in messages[0]
    finally:
        broker.delete(queue)
