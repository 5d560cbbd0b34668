"""Collections as operators paste them: partial, mixed with items, followed, excluded from, unfollowed."""

from __future__ import annotations

import pytest

from fleet.refresh import items_refresh_all
from jobs.models import Job
from overlays.items import collection_unfollow, item_include, item_remove, items_add
from overlays.models import OverlayCollectionItem, OverlayWorkshopCollection, OverlayWorkshopExclusion
from tests.support.helpers import FakeContext
from workshop.models import WorkshopItem
from workshop.parsing import WorkshopInputError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


def _linked(overlay) -> set[str]:
    return set(overlay.workshop_links.values_list("item__steam_id", flat=True))


def _community_collection(steam) -> None:
    """A big community collection as curators leave them: most children fine, some dead."""
    for sid in ("301", "302", "303"):
        steam.add_item(sid, size=16)
    steam.add_item("304", size=16, result=9)  # deleted since it was added
    steam.add_item("305", size=16, consumer_app_id=730)  # another game's item
    steam.add_item("306", size=16, file_url="")  # Steam serves no file
    steam.add_item("307", size=16, banned=1)
    steam.missing.add("308")  # left out of Steam's answer altogether
    steam.add_collection("900", ["301", "302", "303", "304", "305", "306", "307", "308"])


def test_a_collection_with_dead_children_adds_the_usable_ones_and_names_the_rest(overlay, owner, steam):
    _community_collection(steam)

    result = items_add(overlay=overlay, text="900", user=owner)

    assert _linked(overlay) == {"301", "302", "303"}
    assert {(item.steam_id, item.why) for item in result.left_out} == {
        ("304", "deleted or private"),
        ("305", "another game (app 730)"),
        ("306", "no file"),
        ("307", "banned"),
        ("308", "not returned by steam"),
    }
    log = list(result.job.lines.values_list("text", flat=True))
    assert "workshop item 304 of collection 900 left out: deleted or private" in log
    assert len(log) == 5
    collection = OverlayWorkshopCollection.objects.get()
    assert (collection.steam_id, collection.title, collection.left_out) == ("900", "Collection 900", 5)
    assert collection.members.count() == 3


def test_a_collection_with_nothing_usable_is_refused_and_changes_nothing(overlay, owner, steam):
    steam.add_item("311", size=16, result=9)
    steam.add_item("312", size=16, consumer_app_id=730)
    steam.add_collection("901", ["311", "312"])

    with pytest.raises(WorkshopInputError, match="nothing to add from collection 901") as refused:
        items_add(overlay=overlay, text="901", user=owner)

    assert "311 (deleted or private)" in str(refused.value)
    assert not WorkshopItem.objects.exists() and not OverlayWorkshopCollection.objects.exists()
    assert not Job.objects.exists()


@pytest.mark.parametrize("mode", ["auto", "items"])
def test_items_and_collections_mixed_in_one_paste(overlay, owner, steam, mode):
    steam.add_item("321", size=16)
    steam.add_item("322", size=16)
    steam.add_collection("902", ["322"])

    items_add(
        overlay=overlay,
        text="321 https://steamcommunity.com/sharedfiles/filedetails/?id=902",
        input_mode=mode,
        user=owner,
    )

    assert _linked(overlay) == {"321", "322"}  # the collection is expanded, never an item row
    assert not WorkshopItem.objects.filter(steam_id="902").exists()
    assert list(OverlayWorkshopCollection.objects.values_list("steam_id", flat=True)) == ["902"]


def test_collection_mode_refuses_a_plain_item(overlay, owner, steam):
    steam.add_item("331", size=16)
    with pytest.raises(WorkshopInputError, match=r"331 .* is a workshop item, not a collection"):
        items_add(overlay=overlay, text="331", input_mode="collection", user=owner)


def test_a_removed_item_stays_out_through_refreshes_until_included_again(overlay, owner, steam):
    _community_collection(steam)
    items_add(overlay=overlay, text="900", user=owner)

    item_remove(overlay=overlay, steam_id="302", user=owner)
    items_refresh_all(ctx=FakeContext())

    assert _linked(overlay) == {"301", "303"}
    assert OverlayWorkshopExclusion.objects.filter(overlay=overlay, item__steam_id="302").exists()

    item_include(overlay=overlay, steam_id="302", user=owner)
    assert _linked(overlay) == {"301", "302", "303"}
    assert not OverlayWorkshopExclusion.objects.exists()


def test_typing_an_excluded_item_adds_it_back_directly(overlay, owner, steam):
    _community_collection(steam)
    items_add(overlay=overlay, text="900", user=owner)
    item_remove(overlay=overlay, steam_id="302", user=owner)

    items_add(overlay=overlay, text="302", user=owner)

    assert overlay.workshop_links.get(item__steam_id="302").direct
    assert not OverlayWorkshopExclusion.objects.exists()


def test_removing_a_direct_item_no_collection_holds_leaves_no_exclusion(overlay, owner, steam):
    steam.add_item("341", size=16)
    items_add(overlay=overlay, text="341", user=owner)
    item_remove(overlay=overlay, steam_id="341", user=owner)
    assert not OverlayWorkshopExclusion.objects.exists()


def test_refresh_links_children_that_appear_later_and_skips_dead_ones(overlay, owner, steam):
    steam.add_item("351", size=16)
    steam.add_collection("903", ["351"])
    items_add(overlay=overlay, text="903", user=owner)
    steam.add_item("352", size=16)
    steam.add_item("353", size=16, result=9)
    steam.add_collection("903", ["351", "352", "353", "../../etc"])
    ctx = FakeContext()

    result = items_refresh_all(ctx=ctx)

    assert _linked(overlay) == {"351", "352"}
    assert result.overlays == {overlay.pk}
    assert any("353 of collection 903 left out: deleted or private" in line for line in ctx.stderr)


@pytest.mark.parametrize(("choice", "left"), [(True, {"361", "362", "363"}), (False, {"361", "363"})])
def test_unfollow_keeps_or_removes_the_items_only_it_brought(overlay, owner, steam, choice, left):
    for sid in ("361", "362", "363"):
        steam.add_item(sid, size=16)
    steam.add_collection("904", ["361", "362"])
    steam.add_collection("905", ["363"])
    items_add(overlay=overlay, text="361 904 905", user=owner)  # 361 is also typed: direct

    collection_unfollow(overlay=overlay, steam_id="904", keep_items=choice, user=owner)

    assert _linked(overlay) == left
    assert list(OverlayWorkshopCollection.objects.values_list("steam_id", flat=True)) == ["905"]
    assert not OverlayCollectionItem.objects.filter(collection__steam_id="904").exists()
    if choice:
        assert overlay.workshop_links.get(item__steam_id="362").direct  # now the owner's own
    items_refresh_all(ctx=FakeContext())
    assert _linked(overlay) == left  # an unfollowed collection brings nothing back


def test_children_past_the_overlay_limit_are_left_out_and_counted(overlay, owner, steam, settings):
    settings.WORKSHOP_MAX_ITEMS_PER_OVERLAY = 3
    for n in range(371, 376):
        steam.add_item(str(n), size=10)
    steam.add_collection("906", [str(n) for n in range(371, 376)])

    result = items_add(overlay=overlay, text="906", user=owner)

    assert _linked(overlay) == {"371", "372", "373"}
    assert [str(item) for item in result.left_out] == [
        "2 items of collection 906 left out: an overlay holds at most 3 workshop items"
    ]
    assert OverlayWorkshopCollection.objects.get().left_out == 2
    with pytest.raises(WorkshopInputError, match="an overlay holds at most 3 workshop items"):
        items_add(overlay=overlay, text="374", user=owner)


def test_a_refresh_keeps_the_batches_that_worked_when_one_fails_for_good(owner, steam, settings):
    from jobs.runner import JobFailed
    from overlays.items import link_items
    from overlays.services import overlay_create
    from tests.support.helpers import item_from_steam

    overlays = []
    for n in range(5):  # 5 batches of 100 ids, one overlay per batch
        overlay = overlay_create(owner=owner, name=f"batch {n}")
        ids = [str(10_000 + n * 100 + k) for k in range(100)]
        for sid in ids:
            steam.add_item(sid, size=16)
        link_items(overlay=overlay, items=[item_from_steam(steam, sid) for sid in ids])
        steam.add_item(ids[0], size=11)  # one change per batch
        overlays.append(overlay)
    steam.script_api(502, 502, 502, 502, for_id="10250")  # the 3rd batch fails every attempt
    settings.WORKSHOP_RETRY_BACKOFF = 0.01
    ctx = FakeContext()

    with pytest.raises(JobFailed, match=r"HTTP 502 after 4 attempts \(batch 3 of 5"):
        items_refresh_all(ctx=ctx)

    sizes = dict(WorkshopItem.objects.filter(steam_id__endswith="00").values_list("steam_id", "file_size"))
    assert sizes == {"10000": 11, "10100": 11, "10200": 16, "10300": 11, "10400": 11}
    built = {job.subject_id for job in Job.objects.filter(operation="build_overlay")}
    assert built == {overlays[n].pk for n in (0, 1, 3, 4)}
    assert len(steam.api_requests) == 8


def _tree(folder) -> dict[str, tuple[bool, int]]:
    """Every path under `folder` (not following links): is it a link, its mtime."""
    return {str(p): (p.is_symlink(), p.lstat().st_mtime_ns) for p in folder.rglob("*")}


def test_hostile_child_ids_touch_nothing_outside_the_data_folder(overlay, owner, steam, settings, tmp_path):
    from overlays.build import overlay_build

    steam.add_item("381", size=16)
    steam.add_collection("907", ["381", "/some/path", "../../escape", str(2**64), "0"])
    outside = sorted(p.name for p in tmp_path.parent.iterdir())
    elsewhere = tmp_path.parent / f"{tmp_path.name}-neighbour"
    elsewhere.mkdir()
    (elsewhere / "path").write_bytes(b"someone else's")
    before = _tree(elsewhere)

    result = items_add(overlay=overlay, text="907", user=owner)
    overlay_build(overlay=overlay, ctx=FakeContext())

    assert _linked(overlay) == {"381"}
    assert result.left_out == []  # skipped (and logged) where Steam's answer is read
    assert sorted(WorkshopItem.objects.values_list("steam_id", flat=True)) == ["381"]
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p != elsewhere) == outside
    assert _tree(elsewhere) == before
    assert (overlay.addons_path / "381.vpk").is_symlink()
    assert not (settings.WORKSHOP_CACHE_ROOT / ".locks").exists() or all(
        p.name.removesuffix(".lock").isdigit() for p in (settings.WORKSHOP_CACHE_ROOT / ".locks").iterdir()
    )


def test_the_pages_report_left_out_children_and_manage_membership(owner_client, stranger, overlay, steam):
    from django.test import Client

    _community_collection(steam)

    response = owner_client.post(f"/overlays/{overlay.pk}/items/", {"input": "900"}, follow=True)

    page = response.content.decode()
    assert response.status_code == 200
    assert "workshop item 305 of collection 900 left out: another game (app 730)" in page
    owner_client.post(f"/overlays/{overlay.pk}/items/302/delete/")
    detail = owner_client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert "Collection 900" in detail and "Include again" in detail

    client = Client()
    client.force_login(stranger)
    assert client.post(f"/overlays/{overlay.pk}/items/302/include/").status_code == 403
    assert (
        client.post(f"/overlays/{overlay.pk}/collections/900/unfollow/", {"items": "keep"}).status_code == 403
    )

    assert owner_client.post(f"/overlays/{overlay.pk}/items/302/include/").status_code == 302
    assert _linked(overlay) == {"301", "302", "303"}
    refused = owner_client.post(f"/overlays/{overlay.pk}/collections/900/unfollow/", {"items": "maybe"})
    assert refused.status_code == 400
    assert (
        owner_client.post(
            f"/overlays/{overlay.pk}/collections/900/unfollow/", {"items": "remove"}
        ).status_code
        == 302
    )
    assert _linked(overlay) == set()
    assert (
        owner_client.post(f"/overlays/{overlay.pk}/collections/900/unfollow/", {"items": "keep"}).status_code
        == 400
    )


def test_a_collection_chain_too_deep_is_refused_quickly_with_400(owner_client, overlay, steam):
    import time

    for depth in range(1500):
        steam.add_collection(str(50_000 + depth), [(str(50_001 + depth), 2)])
    started = time.monotonic()

    response = owner_client.post(f"/overlays/{overlay.pk}/items/", {"input": "50000"})

    assert response.status_code == 400
    assert "collection 50000 is nested more than 8 levels deep" in response.content.decode()
    assert "steam api error" not in response.content.decode()
    assert time.monotonic() - started < 5
    assert len(steam.api_requests) <= 10
    assert not OverlayWorkshopCollection.objects.exists() and not Job.objects.exists()


def test_a_get_of_the_add_address_shows_the_overlay(owner_client, overlay):
    response = owner_client.get(f"/overlays/{overlay.pk}/items/")
    assert response.status_code == 302 and response["Location"] == f"/overlays/{overlay.pk}/"


def test_the_bounds_of_an_add_hold_per_collection_in_a_refresh(owner, steam, settings):
    from overlays.services import overlay_create

    settings.WORKSHOP_COLLECTION_MAX_ITEMS = 5
    overlays = []
    for n in range(3):  # 9 children in all, 3 per collection
        kids = [str(400 + n * 10 + k) for k in range(3)]
        for sid in kids:
            steam.add_item(sid, size=16)
        steam.add_collection(str(910 + n), kids)
        overlay = overlay_create(owner=owner, name=f"follows {n}")
        items_add(overlay=overlay, text=str(910 + n), user=owner)
        overlays.append(overlay)
    steam.add_item("403", size=16)
    steam.add_collection("910", ["400", "401", "402", "403"])
    for depth in range(12):  # a chain nested deeper than 8 levels, followed by the third overlay
        steam.add_collection(str(60_000 + depth), [(str(60_001 + depth), 2)])
    from overlays.models import OverlayWorkshopCollection as Followed

    Followed.objects.create(overlay=overlays[2], steam_id="60000")
    ctx = FakeContext()

    items_refresh_all(ctx=ctx)

    assert _linked(overlays[0]) == {"400", "401", "402", "403"}
    assert _linked(overlays[2]) == {"420", "421", "422"}
    assert any(line.startswith("collection 60000 not expanded: ") for line in ctx.stderr), ctx.stderr
    assert not WorkshopItem.objects.filter(
        steam_id__in=["910", "911", "912"]
    ).exists()  # collections are no items


def test_a_refresh_follows_children_leaving_and_keeps_counts_when_steam_fails(overlay, owner, steam):
    _community_collection(steam)
    items_add(overlay=overlay, text="900", user=owner)
    collection = OverlayWorkshopCollection.objects.get()
    steam.add_collection("900", ["301", "302"])  # 303 and the dead ones left the collection

    items_refresh_all(ctx=FakeContext())

    collection.refresh_from_db()
    assert set(collection.members.values_list("item__steam_id", flat=True)) == {"301", "302"}
    assert collection.left_out == 0
    assert _linked(overlay) == {"301", "302", "303"}  # an item is never taken away behind the owner's back

    steam.add_collection("900", ["301", "302", "304"])
    steam.api_statuses = [200] + [502] * 4  # collections answer, the metadata batch fails for good
    with pytest.raises(Exception, match="HTTP 502 after 4 attempts"):
        items_refresh_all(ctx=FakeContext())
    collection.refresh_from_db()
    assert collection.left_out == 0 and collection.members.count() == 2


def test_a_refresh_of_an_overlay_that_only_follows_collections_is_allowed(overlay, owner, steam):
    from overlays.services import overlay_refresh_enqueue

    _community_collection(steam)
    items_add(overlay=overlay, text="900", user=owner)
    for sid in ("301", "302", "303"):
        item_remove(overlay=overlay, steam_id=sid, user=owner)
    job, _ = overlay_refresh_enqueue(overlay=overlay, user=owner)
    assert job.operation == "refresh_overlay"
