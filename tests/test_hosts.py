"""A fleet on one machine: two real workers with their own LEFT4ME_HOST and data folder stand for
two game-server hosts, sharing this test's database (PostgreSQL under LEFT4ME_TEST_POSTGRES=1)
and Redis. Each host builds only its own overlays into its own folders."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

from fleet.services import global_refresh_enqueue
from jobs.models import Job
from left4me.models import Host
from overlays.items import items_add
from overlays.models import Overlay
from overlays.services import (
    overlay_create,
    overlay_delete_enqueue,
    overlay_move_enqueue,
)
from tests.support.workers import start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {
    "LEFT4ME_WORKER_HEARTBEAT_SECONDS": "0.5",
    "LEFT4ME_HOST_REPORT_SECONDS": "0.5",
    "WORKSHOP_RETRY_BACKOFF": "0.05",
    "WORKSHOP_RETRY_BACKOFF_MAX": "0.2",
}
SIZE = 20_000


@dataclass
class Machine:
    name: str
    root: Path
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> Host:
        return Host.objects.get(name=self.name)

    def folder(self, overlay: Overlay) -> Path:
        return self.root / "overlays" / str(overlay.pk)

    def link(self, overlay: Overlay, steam_id: str) -> Path:
        return self.folder(overlay) / "left4dead2" / "addons" / f"{steam_id}.vpk"

    def cached(self, steam_id: str) -> Path:
        return self.root / "workshop_cache" / f"{steam_id}.vpk"


@dataclass
class Fleet:
    base: Path
    machines: dict[str, Machine] = field(default_factory=dict)

    def start(self, name: str) -> Machine:
        machine = self.machines.setdefault(name, Machine(name, self.base / name))
        machine.proc = start_worker(
            concurrency=1,
            queues=f"celery,{settings.LEFT4ME_HOUSEKEEPING_QUEUE}",
            LEFT4ME_HOST=name,
            LEFT4ME_ROOT=str(machine.root),
            **FAST,
        )
        wait_for(lambda: Host.objects.filter(name=name, last_seen_at__isnull=False).exists(), timeout=60)
        return machine

    def stop(self, name: str) -> None:
        proc = self.machines[name].proc
        if proc is not None:
            stop_worker(proc)
            self.machines[name].proc = None

    def stop_all(self) -> None:
        for name in list(self.machines):
            self.stop(name)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop_all()


def settled(*, timeout: float = 90, quiet: float = 1.5) -> list[Job]:
    """Every job final, and no new one for `quiet` seconds (a host's cache check, a plain task,
    queues its builds a moment after the refresh job ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait_for(lambda: not Job.objects.filter(state__in=Job.ACTIVE_STATES).exists(), timeout=timeout)
        count = Job.objects.count()
        time.sleep(quiet)
        if Job.objects.count() == count and not Job.objects.filter(state__in=Job.ACTIVE_STATES).exists():
            return list(Job.objects.order_by("pk"))
    raise AssertionError(f"jobs still coming after {timeout}s")


def succeeded(jobs: list[Job]) -> None:
    failed = [(job.operation, job.state, job.error) for job in jobs if job.state != Job.State.SUCCEEDED]
    assert not failed, failed


def overlay_on(owner, machine: Machine, name: str, ids: str) -> Overlay:
    overlay = overlay_create(owner=owner, name=name, host=machine.host)
    items_add(overlay=overlay, text=ids, input_mode="items", user=owner)
    return overlay


def test_each_host_builds_its_overlays_into_its_own_folders_and_downloads_per_host(
    owner, steam, fleet: Fleet
) -> None:
    for steam_id in ("7100001", "7100002", "7100003"):
        steam.add_item(steam_id, size=SIZE)
    a, b = fleet.start("gs-a"), fleet.start("gs-b")
    assert (a.host.job_queue, a.host.root) == ("host-gs-a", str(a.root))

    on_a = overlay_on(owner, a, "on a", "7100001 7100002")
    on_b = overlay_on(owner, b, "on b", "7100001 7100003")
    jobs = settled()

    succeeded(jobs)
    assert {(job.subject_id, job.queue) for job in jobs} == {(on_a.pk, "host-gs-a"), (on_b.pk, "host-gs-b")}
    for machine, overlay, own, other in ((a, on_a, "7100002", "7100003"), (b, on_b, "7100003", "7100002")):
        for steam_id in ("7100001", own):
            assert os.path.realpath(machine.link(overlay, steam_id)) == str(machine.cached(steam_id))
        assert not machine.cached(other).exists()
    assert not a.folder(on_b).exists() and not b.folder(on_a).exists()
    assert [steam.get_count(sid) for sid in ("7100001", "7100002", "7100003")] == [2, 1, 1]
    # Each worker reports its cache and free space.
    wait_for(lambda: Host.objects.filter(name="gs-a", cache_bytes=2 * SIZE).exists(), timeout=10)
    assert a.host.free_bytes and a.host.health == "ok"


def test_the_global_refresh_asks_steam_once_and_builds_on_each_host_its_affected_overlays(
    owner, steam, fleet: Fleet
) -> None:
    for steam_id in ("7200001", "7200002", "7200003"):
        steam.add_item(steam_id, size=SIZE)
    a, b = fleet.start("gs-a"), fleet.start("gs-b")
    changed_a = overlay_on(owner, a, "changed on a", "7200001")
    quiet_a = overlay_on(owner, a, "quiet on a", "7200002")
    changed_b = overlay_on(owner, b, "changed on b", "7200001 7200003")
    missing_b = overlay_on(owner, b, "missing on b", "7200002")
    succeeded(settled())
    steam.add_item("7200001", size=SIZE + 1, time_updated=1_700_000_500)  # a new upload
    b.cached("7200002").unlink()  # lost on b only: b's own check finds it
    steam.reset_counters()
    before = Job.objects.order_by("-pk").first().pk

    global_refresh_enqueue()
    jobs = [job for job in settled() if job.pk > before]

    succeeded(jobs)
    assert steam.api_post_count == 1  # one GetPublishedFileDetails for every item in use
    builds = {(job.subject_id, job.queue) for job in jobs if job.operation == "build_overlay"}
    assert builds == {
        (changed_a.pk, "host-gs-a"),
        (changed_b.pk, "host-gs-b"),
        (missing_b.pk, "host-gs-b"),
    }
    assert quiet_a.pk not in {job.subject_id for job in jobs}
    assert [steam.get_count(sid) for sid in ("7200001", "7200002", "7200003")] == [2, 1, 0]
    assert b.cached("7200002").exists() and a.cached("7200001").stat().st_size == SIZE + 1


def test_delete_and_move_run_on_the_hosts_holding_the_files(owner, steam, fleet: Fleet) -> None:
    steam.add_item("7300001", size=SIZE)
    a, b = fleet.start("gs-a"), fleet.start("gs-b")
    moving = overlay_on(owner, a, "moving", "7300001")
    going = overlay_on(owner, b, "going", "7300001")
    succeeded(settled())
    assert a.link(moving, "7300001").is_symlink() and b.link(going, "7300001").is_symlink()

    move = overlay_move_enqueue(overlay=moving, host=b.host, user=owner)
    delete = overlay_delete_enqueue(overlay=going, user=owner)
    jobs = settled()

    succeeded(jobs)
    assert (move.queue, delete.queue) == ("host-gs-b", "host-gs-b")
    [clear] = [job for job in jobs if job.operation == "clear_overlay_folder"]
    assert clear.queue == "host-gs-a"
    moving.refresh_from_db()
    assert (moving.host.name, moving.moving_to) == ("gs-b", None)
    assert os.path.realpath(b.link(moving, "7300001")) == str(b.cached("7300001"))
    assert not a.folder(moving).exists()
    assert not b.folder(going).exists() and not Overlay.objects.filter(pk=going.pk).exists()


def test_jobs_of_a_stopped_host_wait_in_its_queue_until_it_is_back(
    owner, steam, fleet: Fleet, settings
) -> None:
    settings.LEFT4ME_HOST_DOWN_AFTER_SECONDS = 2
    steam.add_item("7400001", size=SIZE)
    a, b = fleet.start("gs-a"), fleet.start("gs-b")
    fleet.stop("gs-b")
    on_b = overlay_create(owner=owner, name="on b", host=b.host)
    build = items_add(overlay=on_b, text="7400001", input_mode="items", user=owner).job

    time.sleep(3)  # gs-a is idle all along: it must not take gs-b's job

    assert Job.objects.get(pk=build.pk).state == Job.State.QUEUED
    assert b.host.is_down and not a.host.is_down
    assert not a.folder(on_b).exists() and not a.cached("7400001").exists()

    fleet.start("gs-b")
    succeeded(settled())
    assert os.path.realpath(b.link(on_b, "7400001")) == str(b.cached("7400001"))


def test_one_machine_needs_no_setting(owner, steam, fleet: Fleet) -> None:
    """A worker without LEFT4ME_HOST is the host "local" on the shared queue, as before hosts."""
    steam.add_item("7500001", size=SIZE)
    proc = start_worker(concurrency=1, **FAST)
    try:
        wait_for(lambda: Host.objects.filter(name="local", last_seen_at__isnull=False).exists(), timeout=60)
        overlay = overlay_create(owner=owner, name="alone")
        job = items_add(overlay=overlay, text="7500001", input_mode="items", user=owner).job
        succeeded(settled())
    finally:
        stop_worker(proc)
    assert (overlay.host.name, Host.objects.get(name="local").queue, job.queue) == (
        "local",
        "celery",
        "celery",
    )
    assert Host.objects.count() == 1
    assert (overlay.addons_path / "7500001.vpk").is_symlink()
