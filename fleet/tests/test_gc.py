"""Garbage collection of the workshop cache: grace, dry run, what is never removed, races, leftovers."""

from __future__ import annotations

import io
import os
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from fleet import gc
from fleet.refresh import items_refresh_all
from overlays.build import cache_file, overlay_build
from overlays.items import item_pin, item_remove, items_add
from tests.support.helpers import FakeContext, link_target
from workshop.cache import kept_versions, lock_path, partial_path, version_path
from workshop.collect import try_item_lock
from workshop.models import WorkshopItem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


def _gc(*args: str) -> str:
    out = io.StringIO()
    call_command("workshop_gc", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def built(overlay, owner, steam):
    """Items 601 and 602 downloaded and linked into the overlay."""
    steam.add_item("601", size=1000)
    steam.add_item("602", size=3000)
    items_add(overlay=overlay, text="601 602", user=owner)
    overlay_build(overlay=overlay, ctx=FakeContext())
    return overlay


def _age(steam_id: str, days: int) -> None:
    WorkshopItem.objects.filter(steam_id=steam_id).update(
        unlinked_since=timezone.now() - timedelta(days=days)
    )


def test_an_unlinked_file_goes_after_the_grace_period_only(built, owner):
    item_remove(overlay=built, steam_id="602", user=owner)

    first = _gc()
    assert cache_file("602").exists()  # its grace period starts now
    assert "1 unlinked item(s) in their grace period" in first
    _age("602", 8)
    second = _gc()

    assert not cache_file("602").exists() and cache_file("601").exists()
    assert "removed workshop_cache/602.vpk (2.9 KiB): no overlay links it since" in second
    assert "freed 6000 bytes" in second  # the file and its kept version (hard links, counted twice)


def test_a_dry_run_prints_what_would_go_and_removes_nothing(built, owner):
    item_remove(overlay=built, steam_id="602", user=owner)
    out = _gc("--dry-run", "--now")
    assert "would remove workshop_cache/602.vpk" in out and "would free 6000 bytes" in out
    assert cache_file("602").exists()
    assert "removed workshop_cache/602.vpk" in _gc("--now")
    assert not cache_file("602").exists()


def test_linked_and_pinned_files_are_never_removed(built, owner, steam, settings):
    settings.WORKSHOP_KEEP_VERSIONS = 0
    item_pin(overlay=built, steam_id="601", user=owner)
    overlay_build(overlay=built, ctx=FakeContext())  # the build the pin queued
    pinned = WorkshopItem.objects.get(steam_id="601").time_updated
    steam.add_item("601", size=1500, time_updated=pinned + 10)
    items_refresh_all(ctx=FakeContext())
    from overlays.services import overlay_create

    other = overlay_create(owner=owner, name="follows steam")
    items_add(overlay=other, text="601", user=owner)
    overlay_build(overlay=other, ctx=FakeContext())

    _gc("--now")

    root = settings.WORKSHOP_CACHE_ROOT
    assert kept_versions(root, "601") == [pinned + 10, pinned]
    assert (built.addons_path / "601.vpk").read_bytes() == version_path(root, "601", pinned).read_bytes()
    assert (other.addons_path / "601.vpk").exists() and (built.addons_path / "602.vpk").exists()


def test_a_build_linking_the_item_during_collection_keeps_a_valid_link(built, owner, monkeypatch):
    item_remove(overlay=built, steam_id="602", user=owner)
    calls = []

    def linked_meanwhile(steam_id, host=None):
        def still_wanted():
            calls.append(steam_id)
            if len(calls) == 2:  # after the file was moved aside: the owner adds it back
                items_add(overlay=built, text="602", user=owner)
            return len(calls) >= 2

        return still_wanted

    monkeypatch.setattr(gc, "_linked", linked_meanwhile)
    _gc("--now")
    ctx = FakeContext()
    overlay_build(overlay=built, ctx=ctx)

    link = built.addons_path / "602.vpk"
    assert link.is_symlink() and link.read_bytes() and link_target(link) == str(cache_file("602"))
    assert "downloaded=0" in ctx.stdout[-1]  # the file was put back, nothing fetched again


def test_a_download_in_progress_is_never_collected(built, owner, settings):
    item_remove(overlay=built, steam_id="602", user=owner)
    with try_item_lock(settings.WORKSHOP_CACHE_ROOT, "602") as held:
        assert held
        _gc("--now")
        assert cache_file("602").exists()


def test_old_partials_and_locks_of_unknown_items_are_swept(built, settings):
    root = settings.WORKSHOP_CACHE_ROOT
    old, fresh = partial_path(root, "700"), partial_path(root, "701")
    for part in (old, fresh):
        part.write_bytes(b"half")
        part.with_name(part.name + ".json").write_text("{}")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    lock_path(root, "700").touch()

    out = _gc()

    assert not old.exists() and not old.with_name(old.name + ".json").exists()
    assert fresh.exists()
    assert not lock_path(root, "700").exists()
    assert "an abandoned partial download" in out


def test_the_daily_collection_is_scheduled_and_runs_as_a_job(settings):
    from fleet.tasks import enqueue_cache_collection
    from jobs.models import Job

    task = PeriodicTask.objects.get(name="left4me: collect workshop cache")
    assert task.task == "overlays.enqueue_cache_collection" and task.enabled
    job_id = enqueue_cache_collection()
    assert Job.objects.get(pk=job_id).operation == "collect_workshop_cache"
    assert enqueue_cache_collection() == job_id  # one at a time
