"""Faults against real Celery workers, the real (private) Redis and a fake Steam on loopback.

Each test fails if anything is lost or half-written: no file under a final cache name unless it
is complete, no job left running, no partial file left behind once a download gives up.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from jobs.models import Job
from jobs.services import job_cancel, job_enqueue, job_reap_stale
from overlays.build import cache_file
from overlays.items import items_add
from overlays.models import Overlay
from overlays.operations import BUILD_OVERLAY
from tests.support import plugin
from tests.support.fakesteam import Step
from tests.support.helpers import cache_leftovers, link_target, sha256_of
from tests.support.workers import running_worker, start_worker, stop_worker, wait_for
from workshop.models import WorkshopItem

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
MiB = 2**20
FAST_RETRIES = {"WORKSHOP_RETRY_BACKOFF": "0.05", "WORKSHOP_RETRY_BACKOFF_MAX": "0.2"}


def finished(job: Job, timeout: float = 90) -> Job:
    return wait_for(
        lambda: Job.objects.filter(pk=job.pk, state__in=Job.FINAL_STATES).first(), timeout=timeout
    )


def add(owner, name: str, text: str) -> tuple[Overlay, Job]:
    overlay = Overlay.objects.create(owner=owner, name=name)
    return overlay, items_add(overlay=overlay, text=text, input_mode="items", user=owner).job


def log_of(job: Job) -> list[str]:
    return list(job.lines.order_by("seq").values_list("text", flat=True))


def test_sigkill_mid_download_then_a_new_worker_finishes(owner, steam) -> None:
    source = steam.add_item("9100001", size=512 * MiB, rate_limit=64 * MiB)
    overlay, job = add(owner, "big", "9100001")
    final, partial = cache_file("9100001"), Path(settings.WORKSHOP_CACHE_ROOT) / ".9100001.vpk.part"
    worker = start_worker(concurrency=1)
    try:
        wait_for(lambda: partial.exists() and partial.stat().st_size > 128 * MiB, timeout=60)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        stop_worker(worker)
    assert not final.exists(), "a killed download must never appear under the final name"
    assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING  # nobody settled it yet

    # The reaper settles the silent job (re-queue); a new worker picks it up and resumes.
    with running_worker(concurrency=1):
        time.sleep(1.1)
        assert job_reap_stale(stale_after_seconds=1)["requeued"] == 1
        job = finished(job, timeout=120)
    assert job.state == Job.State.SUCCEEDED, (job.error, log_of(job))
    assert sha256_of(final) == source.sha256()
    assert steam.range_headers["9100001"][-1].startswith("bytes=")  # resumed, not restarted
    assert cache_leftovers() == []
    assert link_target(overlay.addons_path / "9100001.vpk") == str(final)
    assert not Job.objects.filter(state__in=Job.ACTIVE_STATES).exists()


def test_server_faults_end_as_specified(owner, steam) -> None:
    steam.add_item("9200001", size=300_000, statuses=[503, 503, 200])
    steam.add_item("9200002", size=3 * MiB, default=Step(truncate_after=MiB // 2))
    steam.add_item("9200003", size=2 * MiB, default=Step(stall_after=1000, stall_seconds=5))
    steam.add_item("9200004", size=1000, default=Step(404))
    jobs = {sid: add(owner, f"o{sid}", sid)[1] for sid in ["9200001", "9200002", "9200003", "9200004"]}
    # The retries inside the build only: with task-level retries left, the short body and the
    # stall would wait to run again (tests/faults/test_job_retries.py).
    with running_worker(concurrency=2, WORKSHOP_READ_TIMEOUT="0.5", JOB_RETRIES="0", **FAST_RETRIES):
        done = {sid: finished(job) for sid, job in jobs.items()}

    ok = done["9200001"]
    assert ok.state == Job.State.SUCCEEDED, ok.error
    assert [t for t in log_of(ok) if "attempt" in t] == [
        "workshop 9200001 attempt 1/3 failed: HTTP 503",
        "workshop 9200001 attempt 2/3 failed: HTTP 503",
    ]
    assert cache_file("9200001").read_bytes() == steam.files["9200001"].content()

    for sid, why in [("9200002", "short body"), ("9200003", "read timeout"), ("9200004", "HTTP 404")]:
        job, item = done[sid], WorkshopItem.objects.get(steam_id=sid)
        assert job.state == Job.State.FAILED and sid in job.error, (sid, job.error)
        assert item.last_error.startswith(f"download failed: {why}"), item.last_error
        assert item.last_downloaded_at is None
        assert not cache_file(sid).exists()
    assert steam.get_count("9200002") == 3 and steam.get_count("9200003") == 3
    assert steam.get_count("9200004") == 1  # permanent: never retried
    assert cache_leftovers() == []


@pytest.fixture
def small_cache_disk():
    """The workshop cache on a 24 MiB tmpfs, for as long as the test runs."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    root = Path(settings.WORKSHOP_CACHE_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    held = root.with_name("workshop_cache.held")
    root.rename(held)
    root.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(root)], check=False)
    if mounted.returncode != 0:
        root.rmdir()
        held.rename(root)
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)
        root.rmdir()
        held.rename(root)


def test_disk_full_fails_cleanly_and_keeps_other_items(owner, steam, small_cache_disk) -> None:
    small = steam.add_item("9300001", size=4 * MiB)
    steam.add_item("9300002", size=64 * MiB)
    with running_worker(concurrency=1, **FAST_RETRIES):
        first = finished(add(owner, "fits", "9300001")[1])
        assert first.state == Job.State.SUCCEEDED, first.error
        second = finished(add(owner, "too-big", "9300002")[1])
    assert second.state == Job.State.FAILED
    # The preflight refuses before a byte is fetched (a disk that fills up during a download
    # anyway fails that item without retry: workshop/tests/test_downloads.py).
    assert second.error.startswith("not enough disk space: need 64.0 MiB, ")
    assert second.error.endswith(" free (keeping 0 bytes free)")
    assert steam.get_count("9300002") == 0
    assert not cache_file("9300002").exists()
    assert cache_file("9300001").stat().st_size == 4 * MiB
    assert cache_leftovers() == []
    assert sha256_of(cache_file("9300001")) == small.sha256()


def test_redis_restarted_while_worker_idle(owner, steam) -> None:
    steam.add_item("9400001", size=10_000)
    steam.add_item("9400002", size=20_000)
    with running_worker(concurrency=1):
        assert finished(add(owner, "before", "9400001")[1]).state == Job.State.SUCCEEDED
        plugin.restart_private_redis()
        time.sleep(1)
        after = finished(add(owner, "after", "9400002")[1], timeout=120)
    assert after.state == Job.State.SUCCEEDED, after.error
    assert cache_file("9400002").read_bytes() == steam.files["9400002"].content()


def test_redis_restarted_while_a_job_runs_the_worker_stays_and_goes_on(owner, steam) -> None:
    """A job holds its message unacknowledged (acks_late) when Redis goes: the worker reconnects
    instead of stopping, the job ends, and the next job runs on the same worker."""
    steam.add_item("9400003", size=8 * MiB, rate_limit=2 * MiB)
    steam.add_item("9400004", size=20_000)
    with running_worker(concurrency=1) as worker:
        running = add(owner, "during", "9400003")[1]
        wait_for(lambda: Job.objects.filter(pk=running.pk, state=Job.State.RUNNING).exists(), timeout=60)
        plugin.restart_private_redis()
        assert finished(running, timeout=120).state == Job.State.SUCCEEDED
        after = finished(add(owner, "after restart", "9400004")[1], timeout=120)
        assert worker.poll() is None, "the worker stopped when Redis restarted"
    assert after.state == Job.State.SUCCEEDED, after.error
    assert cache_file("9400004").read_bytes() == steam.files["9400004"].content()


def test_twenty_overlays_sharing_five_items_fetch_each_once(owner, steam) -> None:
    ids = [f"95000{i:02d}" for i in range(1, 6)]
    for sid in ids:
        steam.add_item(sid, size=4 * MiB, rate_limit=8 * MiB)
    overlays = []
    for n in range(20):
        overlay = Overlay.objects.create(owner=owner, name=f"shared-{n}")
        items_add(overlay=overlay, text=" ".join(ids), input_mode="items", user=None)
        overlays.append(overlay)
    builds = list(Job.objects.filter(operation="build_overlay", subject_id__in=[o.pk for o in overlays]))
    assert len(builds) == 20
    with running_worker(concurrency=4):
        states = {finished(job, timeout=180).state for job in builds}
    assert states == {Job.State.SUCCEEDED}
    assert {sid: steam.get_count(sid) for sid in ids} == dict.fromkeys(ids, 1)
    for overlay in overlays:
        assert sorted(p.name for p in overlay.addons_path.iterdir()) == [f"{sid}.vpk" for sid in ids]
    for sid in ids:
        assert sha256_of(cache_file(sid)) == steam.files[sid].sha256()


def test_enqueue_of_a_rebuild_after_settling_completes(owner, steam) -> None:
    """A job the reaper failed for good leaves the overlay rebuildable."""
    steam.add_item("9600001", size=50_000)
    overlay, job = add(owner, "rebuild", "9600001")
    Job.objects.filter(pk=job.pk).update(state=Job.State.FAILED, error="worker lost")
    with running_worker(concurrency=1):
        rebuild = finished(
            job_enqueue(operation=BUILD_OVERLAY, user=owner, subject=overlay, owner=overlay.owner)[0]
        )
    assert rebuild.state == Job.State.SUCCEEDED
    assert cache_file("9600001").exists()


@pytest.mark.parametrize(
    "fault",
    [Step(hold_seconds=math.inf), Step(trickle_bytes=64, trickle_seconds=0.5)],
    ids=["headers never come", "a trickle"],
)
def test_a_build_stuck_on_its_file_host_is_cancelled_within_two_seconds(owner, steam, fault) -> None:
    steam.add_item("9400001", size=MiB, default=fault)
    _overlay, job = add(owner, "stuck", "9400001")
    with running_worker(concurrency=1):
        wait_for(lambda: steam.get_count("9400001") == 1, timeout=60)
        time.sleep(1.3)  # well into the fault
        began = time.monotonic()
        job_cancel(job=Job.objects.get(pk=job.pk))
        job = finished(job, timeout=30)
        took = time.monotonic() - began
    assert job.state == Job.State.CANCELLED, (job.error, log_of(job))
    assert took <= 2.0, took
    assert steam.get_count("9400001") == 1  # no new attempt after the cancel
    assert cache_leftovers() == []
