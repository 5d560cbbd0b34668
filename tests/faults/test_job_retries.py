"""Task-level retries and the take-over of a lost job, against a real worker, the real (private)
Redis and the stand-in Steam. Minutes are shortened through the settings of the worker; the
reaper, which beat runs every JOB_REAPER_INTERVAL_SECONDS, runs here at each poll."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from jobs.models import Job
from jobs.services import TAKEN_OVER, job_cancel, job_enqueue, job_reap_stale
from left4me.celery import app
from overlays.build import cache_file
from overlays.models import Overlay
from overlays.operations import BUILD_OVERLAY, REFRESH_OVERLAY
from tests.support.helpers import item_from_steam, sha256_of
from tests.support.workers import running_worker, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
MiB = 2**20
# 5 minutes become 1.2 s (÷250): the first retry after ~1.2 s, the second ~3.6 s after that.
SCALED = {
    "JOB_RETRY_FIRST_MINUTES": "0.02",
    "STEAM_API_ATTEMPTS": "2",
    "WORKSHOP_RETRY_BACKOFF": "0.05",
    "WORKSHOP_RETRY_BACKOFF_MAX": "0.1",
}
# A Steam outage that outlasts two attempts of the job (two API POSTs each) and is over by the
# third: counted in POSTs, not seconds, so a slow machine cannot move its end past an attempt.
OUTAGE_POSTS = [502] * 2 * 2


def _refresh_job(owner, steam, sid: str) -> Job:
    steam.add_item(sid, size=50_000)
    overlay = Overlay.objects.create(owner=owner, name=f"o{sid}")
    item_from_steam(steam, sid, overlay=overlay, file_url="")  # the refresh learns the file_url
    return job_enqueue(operation=REFRESH_OVERLAY, subject=overlay, owner=owner, user=owner)[0]


def _reaping(predicate):
    """The predicate, after a run of the reaper (which sends the jobs whose retry is due)."""

    def check():
        job_reap_stale()
        return predicate()

    return check


def _texts(job: Job) -> list[str]:
    return list(job.lines.order_by("seq").values_list("text", flat=True))


def test_a_refresh_waits_out_a_steam_outage_then_succeeds(owner, steam) -> None:
    with running_worker(concurrency=1, **SCALED):
        assert app.send_task("left4me.ping").get(timeout=60) == "pong"  # the worker is up
        steam.script_api(*OUTAGE_POSTS, method="GetPublishedFileDetails")
        job = _refresh_job(owner, steam, "9700001")
        waiting = wait_for(lambda: Job.objects.filter(pk=job.pk, retry_at__isnull=False).first(), timeout=60)
        assert waiting.state == Job.State.QUEUED
        assert waiting.retry_text.startswith("waiting to retry at ")
        assert waiting.retry_text.endswith(" (1/3)")
        finished = _reaping(lambda: Job.objects.filter(pk=job.pk, state__in=Job.FINAL_STATES).first())
        done = wait_for(finished, timeout=60, interval=0.3)

    texts = _texts(done)
    assert done.state == Job.State.SUCCEEDED, texts
    assert (done.retries, done.retry_at) == (2, None)
    failed = [t for t in texts if t.startswith("attempt ")]
    assert [t.split(":")[0] for t in failed] == [
        "attempt 1/4 failed (transient)",
        "attempt 2/4 failed (transient)",
    ]
    assert all("HTTP 502 after 2 attempts" in t and "; retrying at " in t for t in failed)
    assert sha256_of(cache_file("9700001")) == steam.files["9700001"].sha256()


def test_cancel_while_a_refresh_waits_to_retry_ends_it_at_once(owner, steam) -> None:
    steam.api_outage(3600)
    job = _refresh_job(owner, steam, "9700002")
    with running_worker(concurrency=1, **(SCALED | {"JOB_RETRY_FIRST_MINUTES": "0.5"})):
        waiting = wait_for(lambda: Job.objects.filter(pk=job.pk, retry_at__isnull=False).first(), timeout=60)
        posts = steam.api_post_count
        begin = time.monotonic()
        cancelled = job_cancel(job=waiting)
        took = time.monotonic() - begin
        time.sleep(2)
        job_reap_stale()  # nothing is due any more: nothing runs

    assert cancelled.state == Job.State.CANCELLED and took < 1, took
    assert Job.objects.get(pk=job.pk).state == Job.State.CANCELLED
    assert _texts(cancelled)[-1] == "cancelled while waiting to retry"
    assert steam.api_post_count == posts


def _pool_children(worker: subprocess.Popen) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(worker.pid)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def test_a_killed_pool_child_s_job_is_taken_over_by_its_redelivered_message(owner, steam) -> None:
    source = steam.add_item("9700003", size=16 * MiB, rate_limit=4 * MiB)
    overlay = Overlay.objects.create(owner=owner, name="slow")
    item_from_steam(steam, "9700003", overlay=overlay)
    with running_worker(concurrency=1, JOB_HEARTBEAT_SECONDS="0.5") as worker:
        job = job_enqueue(operation=BUILD_OVERLAY, subject=overlay, owner=owner)[0]
        wait_for(lambda: Job.objects.filter(pk=job.pk, bytes_done__gt=2 * MiB).exists(), timeout=60)
        (child,) = _pool_children(worker)
        os.kill(child, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: job.lines.filter(text=TAKEN_OVER).exists(), timeout=30)
        taken_over_after = time.monotonic() - killed_at
        assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING
        done = wait_for(lambda: Job.objects.filter(pk=job.pk, state__in=Job.FINAL_STATES).first(), timeout=30)
        finished_after = time.monotonic() - killed_at

    assert done.state == Job.State.SUCCEEDED, _texts(done)
    assert done.requeues == 1
    assert finished_after < 30
    print(f"taken over {taken_over_after:.1f} s after the kill, finished {finished_after:.1f} s after it")
    assert sha256_of(cache_file("9700003")) == source.sha256()
    assert steam.range_headers["9700003"][-1].startswith("bytes=")  # the partial was resumed
