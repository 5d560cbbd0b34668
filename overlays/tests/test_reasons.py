"""Why each overlay job was queued (its reason, in its title), and the bulk item actions: one
build for all the items chosen."""

from __future__ import annotations

import pytest

from fleet.refresh import items_refresh_all
from jobs.models import Job
from overlays.build import overlay_build
from overlays.items import (
    collection_unfollow,
    item_include,
    item_pin,
    item_remove,
    item_rollback,
    item_unpin,
    items_add,
    items_pin,
    items_remove,
    items_unpin,
)
from overlays.models import OverlayWorkshopExclusion, OverlayWorkshopItem
from overlays.services import OverlayError, overlay_delete_enqueue, overlay_refresh_enqueue
from tests.support.helpers import FakeContext

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


def _settle() -> None:
    """The builds queued so far ran: the next action queues a build of its own."""
    Job.objects.update(state=Job.State.SUCCEEDED)


@pytest.fixture
def three_items(overlay, owner, steam):
    for steam_id in ("101", "102", "103"):
        steam.add_item(steam_id, size=100)
    items_add(overlay=overlay, text="101 102 103", input_mode="items", user=owner)
    overlay_build(overlay=overlay, ctx=FakeContext())
    _settle()
    return overlay


def test_an_add_says_how_many_items_and_which_collection(overlay, owner, steam):
    for steam_id in ("101", "102", "301", "302"):
        steam.add_item(steam_id, size=16)
    steam.add_collection("900", ["301", "302"])

    job = items_add(overlay=overlay, text="101 102", input_mode="items", user=owner).job
    assert job.reason == "added 2 items"
    assert job.title == "Build 'campaigns' · added 2 items"

    _settle()
    job = items_add(overlay=overlay, text="900", input_mode="collection", user=owner).job
    assert job.reason == "followed collection Collection 900"

    _settle()
    job = items_add(overlay=overlay, text="101 900", user=owner).job
    assert job.reason == "added 1 item and followed collection Collection 900"


def test_actions_that_join_a_queued_build_add_their_reasons(three_items, owner):
    first = item_remove(overlay=three_items, steam_id="101", user=owner)
    second = item_pin(overlay=three_items, steam_id="102", user=owner)
    assert first.pk == second.pk
    first.refresh_from_db()
    assert first.reason == "removed Item 101; pinned Item 102"
    assert first.title == "Build 'campaigns' · removed Item 101; pinned Item 102"


def test_each_item_action_names_the_item(three_items, owner, steam):
    overlay = three_items
    actions = [
        (lambda: item_pin(overlay=overlay, steam_id="101", user=owner), "pinned Item 101"),
        (lambda: item_unpin(overlay=overlay, steam_id="101", user=owner), "unpinned Item 101"),
        (lambda: item_remove(overlay=overlay, steam_id="102", user=owner), "removed Item 102"),
    ]
    for action, reason in actions:
        assert action().reason == reason
        _settle()


def test_rollback_names_the_item(three_items, owner, steam):
    steam.add_item("101", size=200, time_updated=1_700_000_900)
    items_refresh_all(ctx=FakeContext())
    overlay_build(overlay=three_items, ctx=FakeContext())
    _settle()
    assert item_rollback(overlay=three_items, steam_id="101", user=owner).reason == "rolled back Item 101"


def test_include_and_unfollow_name_the_item_and_the_collection(overlay, owner, steam):
    for steam_id in ("301", "302"):
        steam.add_item(steam_id, size=16)
    steam.add_collection("900", ["301", "302"])
    items_add(overlay=overlay, text="900", input_mode="collection", user=owner)
    _settle()
    item_remove(overlay=overlay, steam_id="301", user=owner)
    _settle()

    assert item_include(overlay=overlay, steam_id="301", user=owner).reason == "included Item 301"
    _settle()
    job = collection_unfollow(overlay=overlay, steam_id="900", keep_items=True, user=owner)
    assert job.reason == "unfollowed Collection 900"


def test_refresh_delete_and_the_daily_refresh_say_so(three_items, owner, steam):
    job, _created = overlay_refresh_enqueue(overlay=three_items, user=owner)
    assert (job.reason, job.title) == ("refresh", "Refresh 'campaigns'")
    _settle()

    steam.add_item("103", size=300, time_updated=1_700_000_900)
    items_refresh_all(ctx=FakeContext())
    build = Job.objects.get(operation="build_overlay", state=Job.State.QUEUED)
    assert (build.reason, build.user) == ("daily refresh", None)

    job = overlay_delete_enqueue(overlay=three_items, user=owner)
    assert (job.reason, job.title) == ("delete", "Delete 'campaigns'")


# --- bulk --------------------------------------------------------------------------------


def test_remove_many_items_with_one_build(three_items, owner):
    job = items_remove(overlay=three_items, steam_ids=["101", "103", "101"], user=owner)

    linked = set(
        OverlayWorkshopItem.objects.filter(overlay=three_items).values_list("item__steam_id", flat=True)
    )
    assert linked == {"102"}
    assert Job.objects.filter(state=Job.State.QUEUED).get() == job
    assert job.reason == "removed 2 items"


def test_removing_an_unknown_item_removes_nothing(three_items, owner):
    with pytest.raises(OverlayError, match="workshop items 404, 405 are not in this overlay"):
        items_remove(overlay=three_items, steam_ids=["101", "404", "405"], user=owner)
    with pytest.raises(OverlayError, match="no workshop items chosen"):
        items_remove(overlay=three_items, steam_ids=[], user=owner)
    assert OverlayWorkshopItem.objects.filter(overlay=three_items).count() == 3
    assert not Job.objects.filter(state=Job.State.QUEUED).exists()


def test_remove_many_excludes_those_a_collection_holds(overlay, owner, steam):
    for steam_id in ("101", "301", "302"):
        steam.add_item(steam_id, size=16)
    steam.add_collection("900", ["301", "302"])
    items_add(overlay=overlay, text="101 900", user=owner)

    items_remove(overlay=overlay, steam_ids=["101", "301", "302"], user=owner)

    excluded = OverlayWorkshopExclusion.objects.filter(overlay=overlay).values_list(
        "item__steam_id", flat=True
    )
    assert sorted(excluded) == ["301", "302"]
    assert not OverlayWorkshopItem.objects.filter(overlay=overlay).exists()


def test_pin_and_unpin_many_with_one_build_each(three_items, owner):
    job = items_pin(overlay=three_items, steam_ids=["101", "102"], user=owner)
    pins = dict(
        OverlayWorkshopItem.objects.filter(overlay=three_items).values_list(
            "item__steam_id", "pinned_version"
        )
    )
    assert pins["101"] is not None and pins["102"] is not None and pins["103"] is None
    assert job.reason == "pinned 2 items"
    _settle()

    job = items_unpin(
        overlay=three_items, steam_ids=["101", "102", "103"], user=owner
    )  # 103: not pinned, left
    assert not OverlayWorkshopItem.objects.filter(overlay=three_items, pinned_version__isnull=False).exists()
    assert job.reason == "unpinned 2 items"
    assert Job.objects.filter(state=Job.State.QUEUED).count() == 1

    with pytest.raises(OverlayError, match="none of these workshop items is pinned"):
        items_unpin(overlay=three_items, steam_ids=["101", "102"], user=owner)
    with pytest.raises(OverlayError, match="workshop item 101 is not pinned"):
        item_unpin(overlay=three_items, steam_id="101", user=owner)


def test_pin_many_refuses_all_when_one_has_no_download(three_items, owner, steam):
    steam.add_item("104", size=16)
    items_add(overlay=three_items, text="104", input_mode="items", user=owner)  # not built yet
    _settle()
    with pytest.raises(OverlayError, match="workshop item 104 has no downloaded upload to pin yet"):
        items_pin(overlay=three_items, steam_ids=["101", "104"], user=owner)
    with pytest.raises(OverlayError, match="workshop item 999 is not in this overlay"):
        items_pin(overlay=three_items, steam_ids=["101", "999"], user=owner)
    assert not OverlayWorkshopItem.objects.filter(overlay=three_items, pinned_version__isnull=False).exists()
    assert not Job.objects.filter(state=Job.State.QUEUED).exists()
