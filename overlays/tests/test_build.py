from __future__ import annotations

import os
import threading
import time

import pytest

from jobs.runner import JobCancelled, JobFailed
from overlays.build import cache_file, overlay_build, overlay_reconcile_links
from overlays.models import OverlayWorkshopItem
from tests.support.fakesteam import Step
from tests.support.helpers import T0, FakeContext, item_from_steam, link_target, put_in_cache
from workshop.models import WorkshopItem
from workshop.services import items_store_metadata
from workshop.steam import fetch_metadata_batch

pytestmark = pytest.mark.django_db


def _build(overlay, ctx):
    overlay_build(overlay=overlay, ctx=ctx)
    return ctx.stdout[-1]


def _link_target(overlay, steam_id):
    return link_target(overlay.addons_path / f"{steam_id}.vpk")


def test_downloads_uncached_items_and_stamps_them(overlay, steam, ctx):
    fake = steam.add_item("2001", size=300_000)
    item = item_from_steam(steam, "2001", overlay=overlay, last_error="download failed: old")

    summary = _build(overlay, ctx)

    item.refresh_from_db()
    assert item.last_downloaded_at is not None
    assert item.last_error == ""
    assert cache_file("2001").read_bytes() == fake.content()
    assert int(os.stat(cache_file("2001")).st_mtime) == T0
    assert _link_target(overlay, "2001") == str(cache_file("2001"))
    assert summary == (
        "workshop overlay 'campaigns': downloaded=1 cached=0 skipped=0 failed=0 created=1 removed=0 unchanged=0 conflicts=0"
        " (293.0 KiB downloaded)"
    )
    assert ctx.bytes_added == 300_000
    assert {"items_done": 0, "items_total": 1, "bytes_done": 0, "bytes_total": 300_000} in ctx.progress_calls
    assert ctx.progress_calls[-1] == {"items_done": 1, "items_failed": 0}
    assert ctx.items == {
        "2001": {
            "title": item.title,
            "state": "done",
            "bytes_done": 300_000,
            "bytes_total": 300_000,
            "error": "",
        }
    }
    assert f"workshop 2001 downloading: {item.title} (293.0 KiB)" in ctx.stdout
    assert f"workshop 2001 downloaded: {item.title} (293.0 KiB)" in ctx.stdout


def test_skips_items_already_cached(overlay, steam, ctx):
    steam.add_item("2002", size=1000)
    item = item_from_steam(steam, "2002", overlay=overlay, last_downloaded_at="2024-01-01T00:00:00Z")
    put_in_cache(item, b"x" * 1000)

    summary = _build(overlay, ctx)

    assert steam.get_count("2002") == 0
    assert _link_target(overlay, "2002") == str(cache_file("2002"))
    assert "downloaded=0 cached=1 skipped=0 failed=0 created=1" in summary
    assert {"items_cached": 1} in ctx.progress_calls
    assert ctx.items == {}  # nothing to follow one by one


def test_redownloads_a_stale_cache_file(overlay, steam, ctx):
    fake = steam.add_item("2003", size=5000, time_updated=T0 + 500)
    item = item_from_steam(steam, "2003", overlay=overlay, last_downloaded_at="2024-01-01T00:00:00Z")
    put_in_cache(item, b"old" * 10, mtime=T0)

    summary = _build(overlay, ctx)

    assert steam.get_count("2003") == 1
    assert cache_file("2003").read_bytes() == fake.content()
    assert int(os.stat(cache_file("2003")).st_mtime) == T0 + 500
    assert "downloaded=1 cached=0" in summary


def test_skips_items_without_file_url(overlay, steam, ctx):
    WorkshopItem.objects.create(steam_id="2004", title="gone", steam_result=9, last_error="steam result 9")
    OverlayWorkshopItem.objects.create(overlay=overlay, item=WorkshopItem.objects.get(steam_id="2004"))

    summary = _build(overlay, ctx)

    assert ctx.stderr == ["workshop item 2004 skipped: no file_url (steam result: 9)"]
    assert not os.path.lexists(overlay.addons_path / "2004.vpk")
    assert "skipped=1 failed=0" in summary


def test_an_out_of_range_file_size_is_the_cause_given_not_a_missing_file_url(overlay, steam, ctx):
    steam.add_item("2006", size=100)
    steam.details["2006"]["file_size"] = str(2**63)
    item = items_store_metadata(fetch_metadata_batch(["2006"]))["2006"]
    OverlayWorkshopItem.objects.create(overlay=overlay, item=item)
    assert item.file_url == "" and item.last_error == "steam sent an invalid file_size"

    _build(overlay, ctx)

    assert ctx.stderr == ["workshop item 2006 skipped: steam sent an invalid file_size"]


def test_keeps_a_good_cached_file_linked_when_steam_stops_serving_it(overlay, steam, ctx):
    steam.add_item("2005", size=100)
    item = item_from_steam(steam, "2005", overlay=overlay, last_downloaded_at="2024-01-01T00:00:00Z")
    put_in_cache(item, b"y" * 100)
    WorkshopItem.objects.filter(pk=item.pk).update(file_url="", steam_result=9, last_error="steam result 9")

    summary = _build(overlay, ctx)

    assert ctx.stderr[0] == "workshop item 2005 skipped: no file_url (steam result: 9)"
    assert "no longer served by Steam" in ctx.stderr[1]
    assert _link_target(overlay, "2005") == str(cache_file("2005"))
    assert "skipped=1 failed=0 created=1" in summary


def test_exhausted_retries_fail_the_job_but_link_what_downloaded(overlay, steam, ctx, settings):
    settings.WORKSHOP_DOWNLOAD_ATTEMPTS = 2
    steam.add_item("2006", size=100, default=Step(status=503))
    steam.add_item("2007", size=100)
    item_from_steam(steam, "2006", overlay=overlay)
    item_from_steam(steam, "2007", overlay=overlay)

    with pytest.raises(JobFailed, match="2006") as failure:
        overlay_build(overlay=overlay, ctx=ctx)

    assert "2007" not in str(failure.value)
    bad = WorkshopItem.objects.get(steam_id="2006")
    assert bad.last_error.startswith("download failed: ")
    assert bad.last_downloaded_at is None
    assert steam.get_count("2006") == 2
    assert _link_target(overlay, "2007") == str(cache_file("2007"))
    assert not os.path.lexists(overlay.addons_path / "2006.vpk")
    assert "downloaded=1 cached=0 skipped=0 failed=1 created=1" in ctx.stdout[-1]
    assert (ctx.items["2006"]["state"], ctx.items["2007"]["state"]) == ("failed", "done")
    assert ctx.items["2006"]["error"] == bad.last_error.removeprefix("download failed: ")
    assert ctx.progress_calls[-1] == {"items_done": 2, "items_failed": 1}
    assert (
        f"workshop 2006 download failed: {ctx.items['2006']['error']} — Item 2006 (100 bytes)" in ctx.stderr
    )


def test_cancel_during_download_leaves_addons_as_it_was(overlay, steam, ctx):
    steam.add_item("2008", size=100)
    old = item_from_steam(steam, "2008", overlay=overlay)
    put_in_cache(old, b"z" * 100)
    overlay_reconcile_links(overlay=overlay, steam_ids=["2008"])
    OverlayWorkshopItem.objects.filter(item=old).delete()
    steam.add_item("2009", size=40 * 2**20, rate_limit=4 * 2**20)
    item_from_steam(steam, "2009", overlay=overlay)
    threading.Timer(0.3, lambda: setattr(ctx, "cancel", True)).start()

    started = time.monotonic()
    with pytest.raises(JobCancelled):
        overlay_build(overlay=overlay, ctx=ctx)

    assert time.monotonic() - started < 5
    assert sorted(os.listdir(overlay.addons_path)) == ["2008.vpk"]  # the removal did not happen either
    assert not cache_file("2009").exists()
    assert 0 < ctx.bytes_added < 40 * 2**20
    assert WorkshopItem.objects.get(steam_id="2009").last_downloaded_at is None


def test_build_removes_the_link_of_an_item_that_left(overlay, steam, ctx):
    steam.add_item("2010", size=16)
    item = item_from_steam(steam, "2010", overlay=overlay, last_downloaded_at="2024-01-01T00:00:00Z")
    put_in_cache(item, b"q" * 10)
    _build(overlay, ctx)
    OverlayWorkshopItem.objects.filter(item=item).delete()

    summary = _build(overlay, FakeContext())

    assert not os.path.lexists(overlay.addons_path / "2010.vpk")
    assert cache_file("2010").exists()
    assert summary.endswith("created=0 removed=1 unchanged=0 conflicts=0")


def test_noop_build_of_2000_cached_items_is_fast_and_writes_nothing(
    overlay, ctx, django_assert_max_num_queries
):
    items = [
        WorkshopItem(
            steam_id=str(500_000 + n),
            file_url=f"http://example.invalid/{n}",
            file_size=3,
            time_updated=T0,
            last_downloaded_at="2024-01-01T00:00:00Z",
        )
        for n in range(2000)
    ]
    WorkshopItem.objects.bulk_create(items)
    items = list(WorkshopItem.objects.all())
    OverlayWorkshopItem.objects.bulk_create([OverlayWorkshopItem(overlay=overlay, item=i) for i in items])
    for item in items:
        put_in_cache(item, b"abc")
    overlay_reconcile_links(overlay=overlay, steam_ids=[i.steam_id for i in items])
    before = _snapshot(overlay)

    started = time.monotonic()
    with django_assert_max_num_queries(3):
        summary = _build(overlay, ctx)
    elapsed = time.monotonic() - started

    assert elapsed < 2.0, elapsed
    assert summary.endswith(
        "downloaded=0 cached=2000 skipped=0 failed=0 created=0 removed=0 unchanged=2000 conflicts=0"
    )
    assert _snapshot(overlay) == before


def _snapshot(overlay):
    """Inode and times of addons/, every link in it and every cache file."""
    cache = cache_file("0").parent
    paths = [overlay.addons_path, cache, *overlay.addons_path.iterdir(), *cache.iterdir()]
    return {str(p): (os.lstat(p).st_ino, os.lstat(p).st_mtime_ns, os.lstat(p).st_ctime_ns) for p in paths}


def test_an_operators_file_under_an_items_name_is_left_and_reported(overlay, steam, ctx, owner_client):
    steam.add_item("2101", size=16)
    item_from_steam(steam, "2101", overlay=overlay)
    overlay.addons_path.mkdir(parents=True, exist_ok=True)
    (overlay.addons_path / "2101.vpk").write_bytes(b"the operator's own build")

    _build(overlay, ctx)

    assert (overlay.addons_path / "2101.vpk").read_bytes() == b"the operator's own build"
    why = "addons/2101.vpk is a file left4me did not make"
    assert ctx.stderr == [f"workshop item 2101 not linked: {why}; left as it is"]
    assert OverlayWorkshopItem.objects.get(overlay=overlay).conflict == why
    assert f"not linked: {why}" in owner_client.get(f"/overlays/{overlay.pk}/").content.decode()

    (overlay.addons_path / "2101.vpk").unlink()
    _build(overlay, FakeContext())
    assert OverlayWorkshopItem.objects.get(overlay=overlay).conflict == ""
    assert _link_target(overlay, "2101") == str(cache_file("2101"))


def test_a_build_without_room_fails_before_writing_a_byte(overlay, steam, ctx, settings, monkeypatch):
    from overlays import build

    settings.WORKSHOP_MIN_FREE_BYTES = 2 * 2**30
    steam.add_item("2201", size=600 * 2**20)
    item_from_steam(steam, "2201", overlay=overlay)
    monkeypatch.setattr(build, "free_bytes", lambda folder: 2**31 + 100 * 2**20)

    with pytest.raises(JobFailed) as failed:
        overlay_build(overlay=overlay, ctx=ctx)

    assert str(failed.value) == "not enough disk space: need 600.0 MiB, 2.1 GiB free (keeping 2.0 GiB free)"
    assert steam.get_count("2201") == 0
    assert not settings.WORKSHOP_CACHE_ROOT.exists() or not any(settings.WORKSHOP_CACHE_ROOT.iterdir())
