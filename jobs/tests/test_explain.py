"""What a job says about itself: why it was queued (reason), its title, its items one by one,
its counts, duration, speed and time left."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from jobs import runner
from jobs.models import REASON_MAX, Job, JobItem
from jobs.runner import JobContext
from jobs.services import job_claim, job_enqueue, reasons_joined
from overlays.operations import BUILD_OVERLAY as BUILD
from tests.support.helpers import SentMessages, make_job

pytestmark = pytest.mark.django_db


# --- reason ------------------------------------------------------------------------------


def test_enqueue_records_the_reason_and_the_subject_name(
    owner: User, overlay: Any, sent: SentMessages
) -> None:
    job, created = job_enqueue(
        operation=BUILD, subject=overlay, owner=owner, user=owner, reason="added 3 items"
    )
    job.refresh_from_db()
    assert created
    assert (job.reason, job.subject_name) == ("added 3 items", "campaigns")


def test_joining_a_queued_job_adds_the_reason_once(owner: User, overlay: Any, sent: SentMessages) -> None:
    first, _ = job_enqueue(operation=BUILD, subject=overlay, owner=owner, reason="added 3 items")
    job_enqueue(operation=BUILD, subject=overlay, owner=owner, reason="removed 1 item")
    again, created = job_enqueue(operation=BUILD, subject=overlay, owner=owner, reason="added 3 items")
    job_enqueue(operation=BUILD, subject=overlay, owner=owner)  # no reason: nothing to add

    first.refresh_from_db()
    assert (again.pk, created) == (first.pk, False)
    assert first.reason == again.reason == "added 3 items; removed 1 item"
    assert Job.objects.count() == 1


def test_a_running_build_keeps_its_reason_and_the_next_one_has_its_own(
    owner: User, overlay: Any, sent: SentMessages
) -> None:
    first, _ = job_enqueue(operation=BUILD, subject=overlay, owner=owner, reason="added 3 items")
    job_claim(job_id=first.pk)
    second, created = job_enqueue(operation=BUILD, subject=overlay, owner=owner, reason="removed 1 item")
    first.refresh_from_db()
    assert created
    assert (first.reason, second.reason) == ("added 3 items", "removed 1 item")


def test_reasons_stay_within_their_field() -> None:
    reasons = ""
    for n in range(200):
        reasons = reasons_joined(reasons, f"removed item number {n}")
    assert len(reasons) == REASON_MAX
    assert reasons.endswith("…")
    assert reasons.startswith("removed item number 0; removed item number 1; ")
    assert reasons_joined(reasons, "one more") == reasons  # once cut, it stays as it is
    assert reasons_joined("", "  added\n2   items ") == "added 2 items"


# --- title -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "title"),
    [
        ({"operation": BUILD.name, "subject_name": "Campaign server #1", "reason": "added 3 items"},
         "Build 'Campaign server #1' · added 3 items"),
        ({"operation": BUILD.name, "subject_name": "maps"}, "Build 'maps'"),
        ({"operation": "refresh_overlay", "subject_name": "maps", "reason": "refresh"}, "Refresh 'maps'"),
        ({"operation": "delete_overlay", "subject_name": "maps", "reason": "delete"}, "Delete 'maps'"),
        ({"operation": "refresh_workshop_items"}, "Refresh workshop items"),
        ({"operation": "no_such_operation", "reason": "why not"}, "No such operation · why not"),
    ],
)  # fmt: skip
def test_title(fields: dict[str, str], title: str) -> None:
    assert Job(**fields).title == title


def test_title_of_a_job_queued_before_names_were_recorded_reads_its_subject(overlay: Any) -> None:
    job = make_job(BUILD, subject=overlay, subject_name="")
    assert Job.objects.get(pk=job.pk).title == "Build 'campaigns'"


# --- counts, duration, speed, time left --------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"items_total": 3, "items_done": 3, "items_failed": 1, "items_cached": 5},
         "2 of 3 items done · 1 failed · 5 already cached"),
        ({"items_total": 4, "items_done": 1}, "1 of 4 items done"),
        ({"items_cached": 20, "state": "succeeded"}, "Nothing to download: all 20 items already cached"),
        ({"items_cached": 1, "state": "running"}, "Nothing to download: all 1 item already cached"),
        ({"state": "succeeded"}, "Nothing to do"),
        ({"state": "queued"}, ""),
    ],
)  # fmt: skip
def test_items_text(fields: dict[str, Any], text: str) -> None:
    assert Job(**fields).items_text == text


def test_duration_speed_and_time_left_of_a_running_job() -> None:
    now = timezone.now()
    job = Job(
        state="running", started_at=now - timedelta(seconds=10), bytes_done=10 * 2**20, bytes_total=30 * 2**20
    )
    assert job.speed == pytest.approx(2**20, rel=0.05)
    assert job.eta_seconds == pytest.approx(20, abs=1)
    assert job.duration_text.startswith("running for 1")  # 10 s, or 11 s on a slow machine


def test_duration_of_an_ended_job_and_no_time_left() -> None:
    started = timezone.now() - timedelta(hours=2)
    job = Job(
        state="succeeded", started_at=started, finished_at=started + timedelta(seconds=3725), bytes_done=3725
    )
    assert job.duration_text == "1 h 2 min"
    assert job.speed == pytest.approx(1.0)
    assert job.eta_seconds is None
    assert Job(state="queued").duration_text == ""
    assert Job(state="running", started_at=started).speed is None  # no byte moved yet


# --- items of a running job --------------------------------------------------------------


@pytest.fixture
def running_ctx(owner: User) -> JobContext:
    job = make_job(BUILD, user=owner)
    _claim, started_at = job_claim(job_id=job.pk)
    assert started_at is not None
    return JobContext(job_id=job.pk, job=Job.objects.get(pk=job.pk), started_at=started_at)


def _rows(job_id: int) -> dict[str, tuple[str, int, str]]:
    items = JobItem.objects.filter(job_id=job_id)
    return {
        key: (state, done, error)
        for key, state, done, error in items.values_list("key", "state", "bytes_done", "error")
    }


def test_items_are_declared_moved_on_and_counted(
    running_ctx: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "PROGRESS_WRITE_INTERVAL", 0)
    ctx = running_ctx
    ctx.progress(items_total=3, bytes_total=600, items_cached=5)
    ctx.items_declare([("1", "One", 100), ("2", "Two", 200), ("3", "Three", 300)])
    assert _rows(ctx.job_id) == {"1": ("queued", 0, ""), "2": ("queued", 0, ""), "3": ("queued", 0, "")}

    ctx.item_state("1", JobItem.State.DOWNLOADING)
    ctx.item_add_bytes("1", 60)
    assert _rows(ctx.job_id)["1"] == ("downloading", 60, "")
    ctx.item_state("1", JobItem.State.DONE)
    ctx.item_state("2", JobItem.State.FAILED, error="HTTP 404")
    ctx.item_state("2", JobItem.State.FAILED, error="HTTP 404")  # counted once
    ctx.item_state("3", JobItem.State.CACHED)
    ctx.item_state("unknown", JobItem.State.DONE)  # not declared: ignored

    job = Job.objects.get(pk=ctx.job_id)
    assert _rows(ctx.job_id) == {
        "1": ("done", 100, ""),
        "2": ("failed", 0, "HTTP 404"),
        "3": ("cached", 0, ""),
    }
    assert (job.items_done, job.items_failed, job.items_cached, job.bytes_done) == (3, 1, 5, 60)
    assert job.items_text == "2 of 3 items done · 1 failed · 5 already cached"
    assert JobItem.objects.get(job_id=ctx.job_id, key="3").percent == 100


def test_item_writes_wait_for_the_interval_and_are_flushed_at_the_end(running_ctx: JobContext) -> None:
    ctx = running_ctx
    ctx.items_declare([("1", "One", 1000)])
    ctx.item_state("1", JobItem.State.DOWNLOADING)  # the first write goes out at once
    for _ in range(10):
        ctx.item_add_bytes("1", 10)
    assert _rows(ctx.job_id)["1"] == ("downloading", 0, "")  # within the interval: not written yet

    ctx.flush_progress()

    assert _rows(ctx.job_id)["1"] == ("downloading", 100, "")
    assert Job.objects.get(pk=ctx.job_id).bytes_done == 100


def test_declaring_again_starts_the_items_over(running_ctx: JobContext) -> None:
    running_ctx.items_declare([("1", "One", 10), ("2", "Two", 10)])
    running_ctx.item_state("1", JobItem.State.DONE)
    running_ctx.flush_progress()
    running_ctx.items_declare([("2", "Two", 10)])
    assert _rows(running_ctx.job_id) == {"2": ("queued", 0, "")}
