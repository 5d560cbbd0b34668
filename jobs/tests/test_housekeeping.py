"""The periodic tasks go to the housekeeping queue, so the reaper runs however many builds hang."""

from __future__ import annotations

import math
import signal
import time
from datetime import timedelta
from importlib import import_module
from pathlib import Path

import pytest
from celery.beat import Scheduler
from django.apps import apps
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from jobs.models import Job
from left4me.celery import app
from overlays.items import items_add
from overlays.models import Overlay
from tests.support.fakesteam import FakeSteam, Step
from tests.support.helpers import make_job
from tests.support.workers import start_worker, stop_worker, wait_for
from workshop.downloads import discard_partial

REAPER_NAME = "left4me: reap stale jobs"


def _queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.django_db
def test_every_periodic_task_goes_to_the_housekeeping_queue() -> None:
    names = set(PeriodicTask.objects.values_list("task", flat=True))  # made by the migrations
    assert names >= {
        "jobs.reap_stale_jobs",
        "workshop.enqueue_global_refresh",
        "overlays.enqueue_cache_collection",
    }
    assert {name: _queue_of(name) for name in names} == dict.fromkeys(names, "housekeeping")
    assert settings.LEFT4ME_HOUSEKEEPING_QUEUE == "housekeeping"


def test_jobs_stay_on_their_own_queues() -> None:
    assert _queue_of("jobs.build_overlay") == "celery"
    assert _queue_of("jobs.refresh_workshop_items") == "celery"


def test_a_bad_housekeeping_queue_name_is_refused(monkeypatch) -> None:
    import importlib

    import left4me.settings as module

    monkeypatch.setenv("LEFT4ME_HOUSEKEEPING_QUEUE", "celery,housekeeping")
    with pytest.raises(ValueError, match=r"^LEFT4ME_HOUSEKEEPING_QUEUE='celery,housekeeping' is not a queue"):
        importlib.reload(module)
    monkeypatch.delenv("LEFT4ME_HOUSEKEEPING_QUEUE")
    importlib.reload(module)


def _state(job: Job) -> str:
    return Job.objects.values_list("state", flat=True).get(pk=job.pk)


def _send_the_reaper_as_beat_does() -> None:
    """What celery-beat does when the reaper's PeriodicTask is due: apply_async with the row's
    options. The row is made again first: an earlier test that commits flushes the migrations' rows."""
    import_module("jobs.migrations.0003_reaper_schedule").create_reaper_schedule(apps, None)
    entry = ModelEntry(PeriodicTask.objects.get(name=REAPER_NAME), app=app)
    Scheduler(app, lazy=True).apply_async(entry, advance=False)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_reaper_runs_while_every_build_slot_hangs(owner, steam: FakeSteam) -> None:
    # Two builds whose file host takes the request and never answers: both slots of the
    # worker hang (the stall window is longer than the test).
    builds = []
    for n in (1, 2):
        steam.add_item(f"95000{n}", size=1000, default=Step(hold_seconds=math.inf))
        overlay = Overlay.objects.create(owner=owner, name=f"hung-{n}")
        builds.append(items_add(overlay=overlay, text=f"95000{n}", input_mode="items", user=owner).job)
    lost = make_job(
        state=Job.State.RUNNING,
        started_at=timezone.now() - timedelta(hours=1),
        heartbeat_at=timezone.now() - timedelta(hours=1),
        requeues=2,  # JOB_MAX_REQUEUES: the reaper fails it
    )
    worker = start_worker(concurrency=2, WORKSHOP_STALL_SECONDS="600")
    housekeeping = None
    try:
        wait_for(lambda: all(steam.get_count(f"95000{n}") == 1 for n in (1, 2)), timeout=60)
        _send_the_reaper_as_beat_does()
        time.sleep(3)
        # The job worker serves the housekeeping queue too, but has no free slot to take it.
        assert _state(lost) == Job.State.RUNNING

        housekeeping = start_worker(concurrency=1, queues="housekeeping")
        began = time.monotonic()
        wait_for(lambda: _state(lost) == Job.State.FAILED, timeout=60)
        took = time.monotonic() - began
    finally:
        for proc in (worker, housekeeping):
            if proc is not None:
                stop_worker(proc, signal.SIGKILL)
        for n in (1, 2):  # the killed builds' partial files, which later tests would count
            discard_partial(Path(settings.WORKSHOP_CACHE_ROOT), f"95000{n}")
    assert [_state(job) for job in builds] == [Job.State.RUNNING, Job.State.RUNNING]  # still hung
    assert "worker lost" in Job.objects.get(pk=lost.pk).error
    assert took < 30
