"""The overlay pages as an owner uses them: find, sort, page, act on many items, delete safely,
see each overlay's health, and a page of 10,000 items in a bounded number of queries."""

from __future__ import annotations

import os
import re

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.views.defaults import server_error

from jobs.models import Job
from left4me.models import Host
from overlays.build import overlay_reconcile_links
from overlays.models import Overlay, OverlayCollectionItem, OverlayWorkshopCollection, OverlayWorkshopItem
from overlays.pages import links_reach, use_with_server
from tests.support.helpers import put_in_cache
from workshop.models import WorkshopItem

T0 = 1_700_000_000


def _link(overlay, steam_id, *, title="", size=1, updated=T0, cached=True, on_disk=None, **item_fields):
    link_fields = {
        k: item_fields.pop(k) for k in ("pinned_version", "conflict", "direct") if k in item_fields
    }
    item = WorkshopItem.objects.create(
        steam_id=steam_id,
        title=title,
        file_url=item_fields.pop("file_url", f"https://cdn.example/{steam_id}"),
        file_size=size,
        time_updated=updated,
        cached_version=updated if cached else 0,
        **item_fields,
    )
    if cached if on_disk is None else on_disk:
        put_in_cache(item, b"x" * size)
    return OverlayWorkshopItem.objects.create(overlay=overlay, item=item, **link_fields)


def _row(body, steam_id):
    start = body.index(f'id="item-{steam_id}"')
    return body[start : body.index("</tr>", start)]


def _titles(body):
    return re.findall(r'<a class="title" href="[^"]+">([^<]+)</a>', body)


def _page(client, overlay, **params):
    response = client.get(f"/overlays/{overlay.pk}/", params)
    assert response.status_code == 200
    return response.content.decode()


def test_rows_show_title_thumbnail_size_update_time_and_source(owner_client, overlay):
    _link(
        overlay, "101", title="Helms Deep Reborn", size=2 * 2**20, preview_url="https://img.example/101.jpg"
    )
    _link(overlay, "102", title="", cached=False)
    collection = OverlayWorkshopCollection.objects.create(overlay=overlay, steam_id="900", title="Best Maps")
    OverlayCollectionItem.objects.create(collection=collection, item=WorkshopItem.objects.get(steam_id="101"))

    body = _page(owner_client, overlay)

    row = _row(body, "101")
    assert '<img class="thumb" src="https://img.example/101.jpg" alt="" loading="lazy"' in row
    assert 'href="https://steamcommunity.com/sharedfiles/filedetails/?id=101">Helms Deep Reborn</a>' in row
    assert "2.0 MiB" in row and "2023-11-14 22:13" in row
    assert "direct, Best Maps" in row
    assert 'aria-label="Remove Helms Deep Reborn"' in row and 'aria-label="Select Helms Deep Reborn"' in row
    other = _row(body, "102")
    assert '<span class="thumb placeholder" aria-hidden="true">I</span>' in other
    assert ">item 102</a>" in other
    assert re.search(r"Best Maps</a>\s*<span class=\"muted\">· 900 · 1 item", body)


def test_each_state_reads_as_the_owner_would_say_it(owner_client, overlay):
    _link(overlay, "1", title="Cached")
    _link(overlay, "2", title="Waiting", cached=False)
    stale = _link(overlay, "3", title="Newer on Steam")
    WorkshopItem.objects.filter(pk=stale.item_id).update(time_updated=T0 + 60)
    _link(overlay, "4", title="Pinned", pinned_version=T0 - 60)
    _link(overlay, "5", title="Failed", last_error="download failed: HTTP 404")
    _link(overlay, "6", title="Gone", file_url="", last_error="steam result 9: deleted or private")
    _link(overlay, "7", title="In the way", conflict="addons/7.vpk is a file left4me did not make")

    body = _page(owner_client, overlay)

    def state(steam_id):
        row = _row(body, steam_id)
        return re.search(r'class="badge state [a-z]+">([^<]+)</span>', row).group(1)

    assert state("1") == "cached"
    assert state("2") == "waiting"
    assert state("3") == "update available"
    assert state("4") == "pinned"
    assert '<span class="badge update">update available</span>' in _row(body, "4")
    assert state("5") == "failed: HTTP 404"
    assert state("6") == "skipped: steam result 9: deleted or private"
    assert state("7") == "not linked: addons/7.vpk is a file left4me did not make"


def test_an_overlay_on_another_host_shows_what_its_builds_recorded(owner_client, overlay):
    # The files are on that host: this machine's cache (empty here) says nothing about them.
    _link(overlay, "1", title="Cached there", on_disk=False)
    body = _page(owner_client, overlay)
    assert "not in the cache" in _row(body, "1")  # on this machine's own host, the disk is looked at

    Overlay.objects.filter(pk=overlay.pk).update(host=Host.objects.create(name="gs-b"))
    body = _page(owner_client, overlay)
    assert re.search(r'class="badge state [a-z]+">cached</span>', _row(body, "1"))


def test_search_by_title_or_id_and_filter_by_state(owner_client, overlay):
    _link(overlay, "111", title="Dead Before Dawn")
    _link(overlay, "222", title="Urban Flight")
    _link(overlay, "223", title="Tank Run", last_error="download failed: timed out")

    assert _titles(_page(owner_client, overlay, q="dawn")) == ["Dead Before Dawn"]
    assert _titles(_page(owner_client, overlay, q="22")) == ["Tank Run", "Urban Flight"]
    failed = _page(owner_client, overlay, state="failed")
    assert _titles(failed) == ["Tank Run"] and "1 of 3 items match" in failed
    assert _titles(_page(owner_client, overlay, state="cached")) == ["Dead Before Dawn", "Urban Flight"]
    assert "No item matches." in _page(owner_client, overlay, q="nothing like it")
    # Unknown values fall back to the defaults rather than failing.
    assert len(_titles(_page(owner_client, overlay, state="bogus", sort="drop table"))) == 3


def test_sort_by_size_and_update_time(owner_client, overlay):
    _link(overlay, "1", title="B", size=30, updated=T0 + 2)
    _link(overlay, "2", title="A", size=10, updated=T0 + 3)
    _link(overlay, "3", title="C", size=20, updated=T0 + 1)
    assert _titles(_page(owner_client, overlay)) == ["A", "B", "C"]
    assert _titles(_page(owner_client, overlay, sort="-title")) == ["C", "B", "A"]
    assert _titles(_page(owner_client, overlay, sort="-size")) == ["B", "C", "A"]
    assert _titles(_page(owner_client, overlay, sort="size")) == ["A", "C", "B"]
    assert _titles(_page(owner_client, overlay, sort="-updated")) == ["A", "B", "C"]


def test_pages_of_100_keep_the_search_and_sort(owner_client, overlay):
    for n in range(250):
        _link(overlay, str(1000 + n), title=f"Map {n:03d}", cached=False)

    first = _page(owner_client, overlay, sort="-title")
    assert len(_titles(first)) == 100 and _titles(first)[0] == "Map 249"
    assert "Page 1 of 3" in first
    assert 'href="?sort=-title&amp;page=2#items" rel="next">Next</a>' in first
    last = _page(owner_client, overlay, sort="-title", page=3)
    assert _titles(last)[-1] == "Map 000" and len(_titles(last)) == 50
    assert 'rel="prev">Previous</a>' in last
    # A page past the end shows the last one.
    assert _titles(_page(owner_client, overlay, sort="-title", page=99)) == _titles(last)


def test_a_page_of_10000_items_takes_at_most_10_queries(owner_client, overlay, django_assert_max_num_queries):
    items = WorkshopItem.objects.bulk_create(
        [
            WorkshopItem(steam_id=str(10**6 + n), title=f"Addon {n}", file_url="u", file_size=n)
            for n in range(10_000)
        ]
    )
    OverlayWorkshopItem.objects.bulk_create(
        [OverlayWorkshopItem(overlay=overlay, item=item) for item in items]
    )
    collection = OverlayWorkshopCollection.objects.create(overlay=overlay, steam_id="9", title="Pack")
    OverlayCollectionItem.objects.bulk_create(
        [OverlayCollectionItem(collection=collection, item=item) for item in items[:5000]]
    )
    ContentType.objects.get_for_model(Overlay)  # cached for the process's life, as when serving
    for sort in ("title", "-size", "-updated"):  # one set of rows, each sort in turn
        # One of them the user's permissions (the navigation), one what unfollowing each
        # collection removes.
        with django_assert_max_num_queries(11):
            body = _page(owner_client, overlay, sort=sort, page=37, q="Addon")
        assert len(_titles(body)) == 100 and "Page 37 of 100" in body, sort


def test_bulk_remove_makes_one_build_and_says_so(owner_client, overlay):
    for steam_id in ("1", "2", "3"):
        _link(overlay, steam_id, title=f"Item {steam_id}")
    response = owner_client.post(f"/overlays/{overlay.pk}/items/remove/", {"steam_id": ["1", "3"]})
    assert response.status_code == 302 and response["Location"].startswith("/jobs/")
    assert list(overlay.workshop_links.values_list("item__steam_id", flat=True)) == ["2"]
    assert Job.objects.filter(operation="build_overlay").count() == 1
    assert next(str(m) for m in get_messages(response.wsgi_request)).startswith("Removed 2 items")


def test_bulk_action_with_nothing_selected_is_400_and_changes_nothing(owner_client, overlay):
    _link(overlay, "1", title="Kept")
    for action in ("remove", "pin", "unpin"):
        response = owner_client.post(f"/overlays/{overlay.pk}/items/{action}/")
        assert response.status_code == 400
        assert "Select at least one item first." in response.content.decode()
    assert overlay.workshop_links.count() == 1 and not Job.objects.exists()


def test_bulk_remove_of_an_unknown_item_is_400_on_the_overlay_page_and_removes_none(owner_client, overlay):
    _link(overlay, "1", title="Kept")
    response = owner_client.post(f"/overlays/{overlay.pk}/items/remove/", {"steam_id": ["1", "999"]})
    assert response.status_code == 400
    assert "Workshop item 999 is not in this overlay." in response.content.decode()
    assert overlay.workshop_links.count() == 1 and not Job.objects.exists()


def test_remove_buttons_ask_first(owner_client, overlay):
    _link(overlay, "1", title="Tank Run")
    body = _page(owner_client, overlay)
    assert f'data-confirm="Remove Tank Run from {overlay.name}?"' in body
    assert 'data-bulk-confirm="remove">Remove selected</button>' in body


@pytest.mark.parametrize("typed", ["", "Campaigns", "campaigns "])
def test_delete_needs_the_overlay_name_typed(owner_client, overlay, typed):
    response = owner_client.post(f"/overlays/{overlay.pk}/delete/", {"confirm_name": typed})
    # Said in the delete box at the overlay's own address, so a reload posts nothing.
    assert response.status_code == 302
    assert response["Location"] == f"/overlays/{overlay.pk}/#delete-overlay"
    body = owner_client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert "Type the overlay&#x27;s name exactly to delete it." in body
    assert f'name="confirm_name" value="{typed}"' in body
    again = owner_client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert "Type the overlay&#x27;s name exactly to delete it." not in again
    assert Overlay.objects.filter(pk=overlay.pk, deleting=False).exists() and not Job.objects.exists()


def test_delete_with_the_name_typed_says_so(owner_client, overlay):
    response = owner_client.post(
        f"/overlays/{overlay.pk}/delete/", {"confirm_name": overlay.name}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/overlays/"
    assert f"Overlay &#x27;{overlay.name}&#x27; deleted" in response.content.decode()


def test_a_refused_add_reloads_to_the_overlay_page(owner_client, overlay):
    refused = owner_client.post(
        f"/overlays/{overlay.pk}/items/", {"input": "not an id", "input_mode": "items"}
    )
    assert refused.status_code == 400
    body = refused.content.decode()
    assert 'role="alert"' in body and ">not an id</textarea>" in body
    reloaded = owner_client.get(f"/overlays/{overlay.pk}/items/")
    assert reloaded.status_code == 302 and reloaded["Location"] == f"/overlays/{overlay.pk}/"


def test_create_ends_with_a_message_on_the_new_overlay(owner_client):
    response = owner_client.post("/overlays/", {"name": "Versus nights"}, follow=True)
    assert "Overlay &#x27;Versus nights&#x27; created." in response.content.decode()
    assert response.redirect_chain[-1][0] == Overlay.objects.get(name="Versus nights").get_absolute_url()


def test_the_list_shows_each_overlays_health(owner_client, overlay):
    for n in range(20):
        _link(overlay, str(100 + n), size=10**8, on_disk=False)
    _link(overlay, "999", size=10**8, on_disk=False, last_error="download failed: HTTP 500")
    Job.objects.create(operation="build_overlay", subject=overlay, owner=overlay.owner, state="cancelled")
    body = owner_client.get("/overlays/").content.decode()
    assert '20/21 ready · <span class="bad">1 failed</span> · 2.0 GiB' in body


def test_an_empty_overlay_reads_empty(owner_client, overlay):
    assert '<span class="muted">empty</span>' in owner_client.get("/overlays/").content.decode()


def test_use_with_your_server_examples_reach_the_cache(owner_client, overlay, settings):
    body = _page(owner_client, overlay)
    assert 'id="use-with-server"' in body and f"{overlay.path}/left4dead2" in body
    mounts = use_with_server(overlay)
    assert [m.title.split(" ")[0] for m in mounts] == ["overlayfs", "Bind", "Docker"]
    assert "mount -t overlay overlay -o lowerdir=" in mounts[0].command
    assert f"mount --bind {overlay.addons_path} /srv/l4d2/left4dead2/addons" in mounts[1].command
    assert f"-v {settings.WORKSHOP_CACHE_ROOT}:/workshop_cache:ro" in mounts[2].command
    # A link the build makes, read where each example shows addons/, lands where it puts the cache.
    item = WorkshopItem.objects.create(steam_id="101", file_url="u", time_updated=T0)
    overlay_reconcile_links(overlay=overlay, steam_ids=[item.steam_id])
    target = os.readlink(overlay.addons_path / "101.vpk")
    for addons in ("/srv/l4d2/left4dead2/addons", "/server/left4dead2/addons"):
        assert os.path.normpath(os.path.join(addons, target)) == f"{links_reach(addons)}/101.vpk"
    merged = f"{settings.OVERLAYS_ROOT.parent}/mounts/{overlay.pk}/left4dead2/addons"
    assert os.path.normpath(os.path.join(merged, target)) == f"{settings.WORKSHOP_CACHE_ROOT}/101.vpk"


def test_overlay_status_reports_the_build_and_shown_items(
    owner_client, overlay, django_assert_max_num_queries
):
    _link(overlay, "101", title="Downloading")
    job = Job.objects.create(
        operation="build_overlay",
        subject=overlay,
        subject_name=overlay.name,
        owner=overlay.owner,
        state="running",
        items_total=2,
        reason="added 2 items",
    )
    job.items.create(key="101", title="Downloading", state="downloading", bytes_done=25, bytes_total=100)
    job.items.create(key="102", title="Failed", state="failed", error="HTTP 404")
    # Three of them the shown rows as the page draws them (links, their collections) and the health,
    # so the header and the rows never disagree.
    with django_assert_max_num_queries(9):
        data = owner_client.get(f"/overlays/{overlay.pk}/status/", {"ids": "101,102,abc"}).json()
    assert data["build"]["state"] == "running" and data["build"]["active"] is True
    assert data["build"]["url"] == f"/jobs/{job.pk}/"
    assert data["build"]["title"] == f"Build '{overlay.name}' · added 2 items"
    assert data["build"]["items_text"] == "0 of 2 items done"
    assert data["items"]["101"] == {"state": "downloading", "label": "downloading 25%", "percent": 25}
    assert data["items"]["102"]["label"] == "failed: HTTP 404"
    assert "downloading 25%" in data["rows"]["101"] and "Remove Downloading" in data["rows"]["101"]
    assert "102" not in data["rows"]  # not an item of the overlay
    assert "1/1 ready" in data["health"]
    body = _page(owner_client, overlay)
    assert "downloading 25%" in body and 'data-building="1"' in body


def test_overlay_status_is_the_owners_only(client, stranger, overlay):
    client.force_login(stranger)
    assert client.get(f"/overlays/{overlay.pk}/status/").status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "status", "heading"),
    [
        ("get", "/overlays/999/", 404, "Not found"),
        ("get", "/jobs/999/", 404, "Not found"),
        ("get", "/jobs/{job}/cancel/", 405, "Method not allowed"),
        ("get", "/storage/collect/", 405, "Method not allowed"),
    ],
)
def test_error_pages_use_the_layout_with_a_way_back(
    owner_client, owner, overlay, method, path, status, heading
):
    owner.groups.add(Group.objects.get(name="Operators"))  # the storage page is operators'
    job = Job.objects.create(operation="build_overlay", subject=overlay, owner=owner, user=owner)
    response = getattr(owner_client, method)(path.format(job=job.pk))
    assert response.status_code == status
    body = response.content.decode()
    assert '<header class="topbar">' in body and f"<h1>{heading}</h1>" in body
    assert '<a href="/overlays/">Back to your overlays</a>' in body


def test_403_page_uses_the_layout(client, stranger, overlay):
    client.force_login(stranger)
    response = client.get(f"/overlays/{overlay.pk}/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "<h1>Not allowed</h1>" in body and "Back to your overlays" in body


def test_405_keeps_the_allow_header(owner_client, overlay):
    job = Job.objects.create(operation="build_overlay", subject=overlay, owner=overlay.owner)
    response = owner_client.get(f"/jobs/{job.pk}/cancel/")
    assert response.status_code == 405 and response["Allow"] == "POST"


@pytest.mark.parametrize(
    "route",
    ["items/", "items/remove/", "items/pin/", "items/unpin/", "items/rollback/", "items/101/delete/",
     "items/101/include/", "items/include/", "collections/900/unfollow/", "refresh/", "delete/"],
)  # fmt: skip
def test_every_form_address_reloads_to_the_overlay(owner_client, overlay, route):
    response = owner_client.get(f"/overlays/{overlay.pk}/{route}")
    assert response.status_code == 302 and response["Location"] == f"/overlays/{overlay.pk}/"


def test_reloading_a_form_address_of_anothers_overlay_is_403(client, stranger, overlay):
    client.force_login(stranger)
    assert client.get(f"/overlays/{overlay.pk}/delete/").status_code == 403


def test_500_page_uses_the_layout():
    response = server_error(RequestFactory().get("/"))
    body = response.content.decode()
    assert response.status_code == 500 and "<h1>Server error</h1>" in body and "Back to your overlays" in body
