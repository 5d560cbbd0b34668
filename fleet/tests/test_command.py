from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from fleet.management.commands import workshop_refresh
from jobs.models import Job, JobLogLine
from tests.support.helpers import item_from_steam

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("workshop_refresh", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_enqueues_a_global_refresh():
    output = _run()
    job = Job.objects.get()
    assert output == f"enqueued refresh_workshop_items job {job.pk}\n"
    assert (job.operation, job.state, job.user, job.subject) == (
        "refresh_workshop_items",
        "queued",
        None,
        None,
    )


def test_is_idempotent_while_one_is_queued():
    _run()
    job = Job.objects.get()
    assert _run() == f"refresh_workshop_items job {job.pk} already queued\n"
    assert Job.objects.count() == 1


def test_is_idempotent_while_one_is_running():
    _run()
    job = Job.objects.get()
    Job.objects.update(state=Job.State.RUNNING)
    assert _run() == f"refresh_workshop_items job {job.pk} already running\n"
    assert Job.objects.count() == 1


def test_enqueues_a_new_one_once_the_last_finished():
    _run()
    Job.objects.update(state=Job.State.SUCCEEDED)
    _run()
    assert Job.objects.filter(state="queued").count() == 1


def test_overlay_option_enqueues_a_refresh_of_that_overlay(overlay, steam):
    steam.add_item("101", size=16)
    item_from_steam(steam, "101", overlay=overlay)
    output = _run("--overlay", str(overlay.pk))
    job = Job.objects.get()
    assert output == f"enqueued refresh_overlay job {job.pk}\n"
    assert (job.operation, job.subject) == ("refresh_overlay", overlay)
    assert _run("--overlay", str(overlay.pk)) == f"refresh_overlay job {job.pk} already queued\n"


def test_overlay_option_refuses_an_empty_or_unknown_overlay(overlay):
    with pytest.raises(CommandError, match="overlay has no items"):
        _run("--overlay", str(overlay.pk))
    with pytest.raises(CommandError, match="no overlay with id 999"):
        _run("--overlay", "999")
    assert not Job.objects.exists()


def _finish_on_sleep(monkeypatch, state: str, error: str = "") -> None:
    """Stand in for the worker: the first poll sees log lines, the second a finished job."""

    def sleep(_seconds: float) -> None:
        job = Job.objects.get()
        seq = JobLogLine.objects.filter(job=job).count()
        JobLogLine.objects.create(job=job, seq=seq + 1, text=f"line {seq + 1}")
        JobLogLine.objects.create(job=job, seq=seq + 2, stream="stderr", text="a warning")
        if seq:
            Job.objects.update(state=state, error=error)

    monkeypatch.setattr(workshop_refresh.time, "sleep", sleep)


def test_wait_prints_the_log_and_succeeds(monkeypatch):
    _finish_on_sleep(monkeypatch, Job.State.SUCCEEDED)
    output = _run("--wait")
    job = Job.objects.get()
    assert output.splitlines() == [
        f"enqueued refresh_workshop_items job {job.pk}",
        "line 1",
        "a warning",
        "line 3",
        "a warning",
        f"refresh_workshop_items job {job.pk} succeeded",
    ]


def test_wait_exits_non_zero_when_the_job_failed(monkeypatch):
    _finish_on_sleep(monkeypatch, Job.State.FAILED, "steam api error: HTTP 500")
    with pytest.raises(CommandError, match="failed: steam api error: HTTP 500"):
        _run("--wait")
