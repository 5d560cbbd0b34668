from __future__ import annotations

import threading
import time

import pytest

from fleet.refresh import items_refresh_all
from jobs.models import Job
from jobs.runner import JobCancelled, JobFailed
from overlays import refresh
from overlays.build import cache_file
from overlays.models import OverlayWorkshopCollection, OverlayWorkshopItem
from overlays.refresh import overlay_refresh
from overlays.services import overlay_create
from tests.support.fakesteam import ApiStep
from tests.support.helpers import T0, FakeContext, item_from_steam, put_in_cache
from workshop.models import WorkshopItem
from workshop.services import NO_ENTRY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


def _cached_item(steam, steam_id, overlay, *, size=10, **fields):
    steam.add_item(steam_id, size=size)
    item = item_from_steam(
        steam, steam_id, overlay=overlay, last_downloaded_at="2024-01-01T00:00:00Z", **fields
    )
    put_in_cache(item, steam.files[steam_id].content())
    return item


# --- one overlay -------------------------------------------------------------------------


def test_overlay_refresh_updates_rows_then_builds(overlay, steam, ctx):
    item = _cached_item(steam, "101", overlay)
    stamped = WorkshopItem.objects.get(pk=item.pk).last_downloaded_at
    steam.add_item("101", size=20, time_updated=T0 + 60, title="New title")

    overlay_refresh(overlay=overlay, ctx=ctx)

    item.refresh_from_db()
    assert (item.title, item.file_size, item.time_updated) == ("New title", 20, T0 + 60)
    assert item.last_checked_at is not None
    assert item.last_downloaded_at > stamped  # the build downloaded the new version
    assert steam.get_count("101") == 1
    assert cache_file("101").stat().st_size == 20
    assert ctx.stdout[-1].startswith("workshop overlay 'campaigns': downloaded=1 cached=0")


def test_overlay_refresh_leaves_last_downloaded_at_alone_when_nothing_changed(overlay, steam, ctx):
    item = _cached_item(steam, "101", overlay)
    stamped = WorkshopItem.objects.get(pk=item.pk).last_downloaded_at

    overlay_refresh(overlay=overlay, ctx=ctx)

    assert WorkshopItem.objects.get(pk=item.pk).last_downloaded_at == stamped
    assert steam.get_count("101") == 0


def test_overlay_refresh_records_items_steam_left_out_or_refused(overlay, steam, ctx):
    _cached_item(steam, "101", overlay)
    _cached_item(steam, "102", overlay, size=30)
    steam.missing.add("101")
    steam.details["102"] = {"publishedfileid": "102", "result": 9}

    overlay_refresh(overlay=overlay, ctx=ctx)

    assert WorkshopItem.objects.get(steam_id="101").last_error == NO_ENTRY
    gone = WorkshopItem.objects.get(steam_id="102")
    assert (gone.last_error, gone.file_url, gone.steam_result, gone.file_size) == (
        "steam result 9: deleted or private",
        "",
        9,
        30,
    )
    assert "workshop item 102 skipped: no file_url (steam result: 9)" in ctx.stderr
    assert (overlay.addons_path / "102.vpk").is_symlink()  # its good cached file stays linked


def test_overlay_refresh_steam_error_fails_and_changes_no_row(overlay, steam, ctx):
    _cached_item(steam, "101", overlay)
    before = list(WorkshopItem.objects.values())
    steam.add_item("101", size=99, title="changed")
    steam.api_statuses = [500] * 10  # more than every attempt

    with pytest.raises(JobFailed, match=r"^steam api error: .*HTTP 500"):
        overlay_refresh(overlay=overlay, ctx=ctx)

    assert list(WorkshopItem.objects.values()) == before
    assert steam.get_count("101") == 0


def test_overlay_refresh_picks_up_new_collection_items(overlay, steam, ctx):
    _cached_item(steam, "101", overlay)
    steam.add_item("102", size=16)
    steam.add_collection("900", ["101", "102"])
    OverlayWorkshopCollection.objects.create(overlay=overlay, steam_id="900")

    overlay_refresh(overlay=overlay, ctx=ctx)

    assert set(overlay.workshop_links.values_list("item__steam_id", flat=True)) == {"101", "102"}
    assert (overlay.addons_path / "102.vpk").is_symlink()


def test_a_collection_child_dropped_for_a_bad_id_is_named_in_the_log(overlay, steam, ctx):
    _cached_item(steam, "103", overlay)
    steam.add_collection("901", ["103", "../etc", "0"])
    OverlayWorkshopCollection.objects.create(overlay=overlay, steam_id="901")

    overlay_refresh(overlay=overlay, ctx=ctx)

    assert "collection 901: left out a child with a bad id: '../etc'" in ctx.stderr
    assert "collection 901: left out a child with a bad id: '0'" in ctx.stderr
    assert set(overlay.workshop_links.values_list("item__steam_id", flat=True)) == {"103"}


# --- every item --------------------------------------------------------------------------


def test_global_refresh_batches_and_builds_only_affected_overlays(
    owner, steam, ctx, django_assert_max_num_queries
):
    quiet = overlay_create(owner=owner, name="quiet")
    changed = overlay_create(owner=owner, name="changed")
    missing = overlay_create(owner=owner, name="missing")
    for n in range(150):
        _cached_item(steam, str(1000 + n), quiet, size=1)
    OverlayWorkshopItem.objects.bulk_create(
        [OverlayWorkshopItem(overlay=changed, item=i) for i in WorkshopItem.objects.all()[:5]]
    )
    _cached_item(steam, "7", changed)
    steam.add_item("7", size=16, time_updated=T0 + 1)
    _cached_item(steam, "8", missing)
    cache_file("8").unlink()
    steam.add_item("9", size=16)
    item_from_steam(steam, "9")  # in no overlay: not refreshed
    steam.reset_counters()

    # 7 per enqueued build (one reads the overlay's host as the database has it now, so a build
    # asked while the overlay moves goes where it is); 1: which other hosts to ask.
    with django_assert_max_num_queries(13 + 7 * 2):
        result = items_refresh_all(ctx=ctx)

    requests = steam.api_requests
    assert [method for method, _ in requests] == ["GetPublishedFileDetails"] * 2
    assert max(len(ids) for _, ids in requests) <= 100
    assert "9" not in {i for _, ids in requests for i in ids}
    assert (result.changed, result.missing) == ({"7"}, {"8"})
    builds = Job.objects.filter(operation="build_overlay")
    assert sorted(build.subject.name for build in builds) == ["changed", "missing"]
    assert WorkshopItem.objects.get(steam_id="7").time_updated == T0 + 1
    assert steam.get_count("7") == 0  # the builds download, not the refresh


def test_global_refresh_expands_a_shared_collection_once_and_links_new_items(owner, steam, ctx):
    first, second = overlay_create(owner=owner, name="first"), overlay_create(owner=owner, name="second")
    item = _cached_item(steam, "301", first)
    OverlayWorkshopItem.objects.create(overlay=second, item=item)
    for overlay in (first, second):
        OverlayWorkshopCollection.objects.create(overlay=overlay, steam_id="950")
    steam.add_item("302", size=16)
    steam.add_collection("950", ["301", "302"])  # 302 joined the collection since
    steam.reset_counters()

    result = items_refresh_all(ctx=ctx)

    assert steam.api_posts["GetCollectionDetails"] == 1
    for overlay in (first, second):
        assert set(overlay.workshop_links.values_list("item__steam_id", flat=True)) == {"301", "302"}
    assert result.overlays == {first.pk, second.pk}
    assert set(Job.objects.filter(operation="build_overlay").values_list("subject_id", flat=True)) == {
        first.pk,
        second.pk,
    }


def test_global_refresh_steam_error_fails_and_changes_no_row(overlay, steam, ctx):
    _cached_item(steam, "101", overlay)
    steam.add_item("101", size=99, time_updated=T0 + 5)
    before = list(WorkshopItem.objects.values())
    steam.api_statuses = [502] * 10  # more than every attempt

    with pytest.raises(JobFailed, match=r"^steam api error: "):
        items_refresh_all(ctx=FakeContext())

    assert list(WorkshopItem.objects.values()) == before
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("details", "error"),
    [
        ({"banned": 1}, "banned"),
        ({"result": 15}, "steam result 15: access denied"),
        ({"result": 2}, "steam result 2 (failed)"),
        ({"file_size": str(10**25)}, "steam sent an invalid file_size"),
        ({"time_updated": 10**25}, "steam sent an invalid time_updated"),
    ],
)
def test_a_refresh_stores_every_answer_with_its_meaning(overlay, steam, ctx, details, error):
    _cached_item(steam, "101", overlay)
    steam.add_item("101", size=16, **details)

    overlay_refresh(overlay=overlay, ctx=ctx)

    item = WorkshopItem.objects.get(steam_id="101")
    assert (item.last_error, item.file_url) == (error, "")
    assert (overlay.addons_path / "101.vpk").is_symlink()  # the cached file stays linked


# --- in parallel -------------------------------------------------------------------------


def _overlays_of_cached_items(owner, steam, count, per_overlay=100):
    """`count` overlays of `per_overlay` items each (one API batch each), all cached as Steam says."""
    overlays = []
    for n in range(count):
        overlay = overlay_create(owner=owner, name=f"batch {n}")
        for k in range(per_overlay):
            _cached_item(steam, str(20_000 + n * per_overlay + k), overlay, size=1)
        overlays.append(overlay)
    return overlays


@pytest.mark.parametrize("last", [0, 2, 3])
def test_the_order_batches_come_back_in_changes_nothing(owner, steam, ctx, settings, monkeypatch, last):
    overlays = _overlays_of_cached_items(owner, steam, 4)
    for n in (1, 2):  # one change in the 2nd and 3rd overlays
        steam.add_item(str(20_000 + n * 100 + 7), size=2, time_updated=T0 + 9)
    steam.api_latency = 0.05
    others_stored = threading.Event()  # this batch comes last: answered once the others are stored
    steam.script_api(ApiStep(hold=others_stored), for_id=str(20_000 + last * 100))
    settings.WORKSHOP_API_CONCURRENCY = 4
    monkeypatch.setattr(refresh, "STORE_ITEMS", 100)  # store each batch by itself
    stored: list[str] = []
    real_store = refresh._store_batch

    def store(metas, *args):
        stored.append(metas[0].steam_id if metas else "")
        result = real_store(metas, *args)
        if len(stored) == 3:
            others_stored.set()
        return result

    monkeypatch.setattr(refresh, "_store_batch", store)
    steam.reset_counters()

    result = items_refresh_all(ctx=ctx)

    assert stored[-2:] == [str(20_000 + last * 100), ""]  # the slow batch was stored last
    assert steam.api_peak == 4
    assert (result.changed, result.missing) == ({"20107", "20207"}, set())
    assert result.overlays == {overlays[1].pk, overlays[2].pk}
    assert WorkshopItem.objects.get(steam_id="20207").file_size == 2
    assert WorkshopItem.objects.filter(last_checked_at__isnull=False).count() == 400
    built = set(Job.objects.filter(operation="build_overlay").values_list("subject_id", flat=True))
    assert built == {overlays[1].pk, overlays[2].pk}


def test_a_failing_batch_does_not_lose_the_others_results(owner, steam, ctx, settings):
    overlays = _overlays_of_cached_items(owner, steam, 4)
    for n in range(4):
        steam.add_item(str(20_000 + n * 100 + 1), size=3, time_updated=T0 + 9)  # a change in each
    steam.script_api(*[502] * 4, for_id="20000")  # the first batch fails every attempt...
    steam.api_latency = 0.05  # ...while the others are answered at the same time
    settings.WORKSHOP_RETRY_BACKOFF = 0.01
    steam.reset_counters()

    with pytest.raises(JobFailed, match=r"HTTP 502 after 4 attempts \(batch 1 of 4: items 20000…20099\)$"):
        items_refresh_all(ctx=ctx)

    sizes = dict(WorkshopItem.objects.filter(steam_id__endswith="01").values_list("steam_id", "file_size"))
    assert sizes == {"20001": 1, "20101": 3, "20201": 3, "20301": 3}
    built = set(Job.objects.filter(operation="build_overlay").values_list("subject_id", flat=True))
    assert built == {overlays[n].pk for n in (1, 2, 3)}
    assert steam.api_peak >= 2 and len(steam.api_requests) == 7


def test_a_cancel_ends_the_refresh_promptly(owner, steam, settings, monkeypatch):
    _overlays_of_cached_items(owner, steam, 2, per_overlay=10)
    ids = [str(30_000 + n) for n in range(3000)]  # 30 batches Steam knows nothing of
    steam.api_latency = 0.2
    settings.WORKSHOP_API_CONCURRENCY = 2

    class CancelledSoon(FakeContext):
        def should_cancel(self) -> bool:
            return len(self.progress_calls) > 2  # after two batches came back

    ctx = CancelledSoon()
    linked = refresh._linked_steam_ids
    monkeypatch.setattr(refresh, "_linked_steam_ids", lambda overlay_ids: linked(overlay_ids) | set(ids))
    started = time.monotonic()

    with pytest.raises(JobCancelled):
        items_refresh_all(ctx=ctx)

    assert time.monotonic() - started < 1.5
    assert len(steam.api_requests) <= 6
    assert not Job.objects.filter(operation="build_overlay").exists()
