from __future__ import annotations

import pytest

from jobs.models import Job
from jobs.runner import JobFailed
from overlays.build import cache_file
from overlays.models import OverlayWorkshopCollection, OverlayWorkshopItem
from overlays.refresh import items_refresh_all, overlay_refresh
from overlays.services import overlay_create
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

    with django_assert_max_num_queries(12 + 6 * 2):  # 6 per enqueued build
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
