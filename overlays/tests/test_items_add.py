from __future__ import annotations

import pytest

from jobs.models import Job
from overlays.items import item_remove, items_add
from overlays.models import OverlayWorkshopCollection, OverlayWorkshopItem
from overlays.services import OverlayError
from workshop.models import WorkshopItem
from workshop.parsing import WorkshopInputError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


def _nothing_changed():
    assert not WorkshopItem.objects.exists()
    assert not OverlayWorkshopItem.objects.exists()
    assert not OverlayWorkshopCollection.objects.exists()
    assert not Job.objects.exists()


def test_add_items_stores_metadata_links_and_enqueues_a_build(overlay, owner, steam):
    steam.add_item("101", size=1234, time_updated=1_700_000_100)
    steam.add_item("102", size=99)

    job = items_add(
        overlay=overlay,
        text="101\nhttps://steamcommunity.com/sharedfiles/filedetails/?id=102",
        input_mode="items",
        user=owner,
    ).job

    item = WorkshopItem.objects.get(steam_id="101")
    assert (item.title, item.file_size, item.time_updated, item.steam_result) == (
        "Item 101",
        1234,
        1_700_000_100,
        1,
    )
    assert item.file_url == steam.file_url("101")
    assert item.last_downloaded_at is None
    assert set(overlay.workshop_links.values_list("item__steam_id", flat=True)) == {"101", "102"}
    assert (job.operation, job.state, job.subject, job.user) == ("build_overlay", "queued", overlay, owner)


def test_add_updates_an_existing_row_and_coalesces_with_the_queued_build(overlay, owner, steam):
    steam.add_item("101", size=16)
    first = items_add(overlay=overlay, text="101", input_mode="items", user=owner).job
    steam.add_item("101", size=20, title="Renamed")

    second = items_add(overlay=overlay, text="101", input_mode="items", user=owner).job

    assert second.pk == first.pk
    assert WorkshopItem.objects.get().title == "Renamed"
    assert OverlayWorkshopItem.objects.count() == 1


def test_add_collection_links_its_items_and_remembers_it(overlay, owner, steam):
    steam.add_item("201", size=16)
    steam.add_item("202", size=16)
    steam.add_collection("900", ["201", "202"])

    items_add(overlay=overlay, text="900", input_mode="collection", user=owner)

    assert set(overlay.workshop_links.values_list("item__steam_id", flat=True)) == {"201", "202"}
    assert list(overlay.workshop_collections.values_list("steam_id", flat=True)) == ["900"]
    assert not WorkshopItem.objects.filter(steam_id="900").exists()


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("101 nonsense", "items", "not a workshop id or URL: 'nonsense'"),
        ("", "items", "enter at least one workshop id or URL"),
        ("101", "bogus", "unknown input mode"),
        ("555", "items", "no such workshop item: 555"),
        ("303", "items", "is for another game"),
        ("101", "collection", "101 .* is a workshop item, not a collection"),
    ],
)
def test_bad_input_changes_nothing(overlay, owner, steam, text, mode, message):
    steam.add_item("101", size=16)
    steam.add_item("303", size=16, consumer_app_id=730)
    with pytest.raises(WorkshopInputError, match=message):
        items_add(overlay=overlay, text=text, input_mode=mode, user=owner)
    _nothing_changed()


def test_too_many_entries_change_nothing(overlay, owner, steam, settings):
    settings.WORKSHOP_MAX_ENTRIES = 2
    with pytest.raises(WorkshopInputError, match="too many"):
        items_add(overlay=overlay, text="1 2 3", input_mode="items", user=owner)
    assert steam.api_post_count == 0
    _nothing_changed()


def test_too_many_collection_items_change_nothing(overlay, owner, steam, settings):
    settings.WORKSHOP_COLLECTION_MAX_ITEMS = 2
    steam.add_collection("900", ["1", "2", "3"])
    with pytest.raises(WorkshopInputError, match="collections hold more than 2 items"):
        items_add(overlay=overlay, text="900", input_mode="collection", user=owner)
    _nothing_changed()


def test_steam_api_failure_changes_nothing(overlay, owner, steam):
    steam.add_item("101", size=16)
    steam.api_statuses = [503] * 10  # more than every attempt
    with pytest.raises(WorkshopInputError, match=r"^steam api error: \w+: HTTP 503 after 4 attempts$"):
        items_add(overlay=overlay, text="101", input_mode="items", user=owner)
    _nothing_changed()


def test_remove_unlinks_and_enqueues_a_build(overlay, owner, steam):
    steam.add_item("101", size=16)
    items_add(overlay=overlay, text="101", input_mode="items", user=owner)
    Job.objects.update(state=Job.State.SUCCEEDED)

    job = item_remove(overlay=overlay, steam_id="101", user=owner)

    assert not overlay.workshop_links.exists()
    assert WorkshopItem.objects.filter(steam_id="101").exists()
    assert (job.operation, job.state) == ("build_overlay", "queued")


def test_remove_of_an_item_not_in_the_overlay_is_refused(overlay, owner):
    with pytest.raises(OverlayError, match="not in this overlay"):
        item_remove(overlay=overlay, steam_id="101", user=owner)
    assert not Job.objects.exists()
