"""The overlay page's list as an owner works through it: how many are selected, every matching
item at once (the post carries the search, not ids), numbered pages, a way out of an empty
search, excluded items included again together, and which upload a pin holds."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from jobs.models import Job
from overlays.models import (
    OverlayCollectionItem,
    OverlayWorkshopCollection,
    OverlayWorkshopExclusion,
    OverlayWorkshopItem,
)
from overlays.tests.test_pages import _link, _page, _row
from workshop.models import WorkshopItem

pytestmark = pytest.mark.django_db


def _message(response):
    return next(str(m) for m in get_messages(response.wsgi_request))


def test_remove_all_matching_acts_on_every_page_of_the_search_and_nothing_else(owner_client, overlay):
    items = WorkshopItem.objects.bulk_create(
        WorkshopItem(steam_id=str(1000 + n), title=f"Map {n:03d}", file_size=1) for n in range(150)
    )
    OverlayWorkshopItem.objects.bulk_create(OverlayWorkshopItem(overlay=overlay, item=item) for item in items)
    for n in range(3):
        _link(overlay, str(2000 + n), title=f"Tank {n}", cached=False)
    body = _page(owner_client, overlay, q="Map")
    assert 'id="all-matching"> select all 150 matching</label>' in body
    assert '<input type="hidden" name="q" value="Map">' in body

    response = owner_client.post(
        f"/overlays/{overlay.pk}/items/remove/",
        {"all_matching": "1", "q": "Map", "state": "", "steam_id": ["1000"]},
    )

    assert response.status_code == 302 and response["Location"].startswith("/jobs/")
    assert sorted(overlay.workshop_links.values_list("item__title", flat=True)) == [
        "Tank 0",
        "Tank 1",
        "Tank 2",
    ]
    assert Job.objects.filter(operation="build_overlay").count() == 1
    assert _message(response).startswith("Removed 150 items: Map 000, Map 001, Map 002 and 147 more")


def test_all_matching_with_no_match_is_400_and_changes_nothing(owner_client, overlay):
    _link(overlay, "1", title="Kept")
    response = owner_client.post(f"/overlays/{overlay.pk}/items/remove/", {"all_matching": "1", "q": "zzz"})
    assert response.status_code == 400 and "Select at least one item first." in response.content.decode()
    assert overlay.workshop_links.count() == 1 and not Job.objects.exists()


def test_pages_are_numbered_and_the_current_one_is_marked(owner_client, overlay):
    items = WorkshopItem.objects.bulk_create(
        WorkshopItem(steam_id=str(1000 + n), title=f"Map {n:03d}", file_size=1) for n in range(950)
    )
    OverlayWorkshopItem.objects.bulk_create(OverlayWorkshopItem(overlay=overlay, item=item) for item in items)
    body = _page(owner_client, overlay, page=5)
    assert '<span aria-current="page" class="current">5</span>' in body
    for number in (1, 3, 4, 6, 7, 10):
        assert f'aria-label="Page {number}">{number}</a>' in body
    assert 'aria-label="Page 9"' not in body and "…" in body  # far pages fold


def test_an_empty_search_offers_a_way_back_and_no_bulk_action(owner_client, overlay):
    _link(overlay, "1", title="Kept")
    body = _page(owner_client, overlay, q="zzz", sort="-size")
    assert 'No item matches. <a href="?sort=-size#items">Clear search</a>' in body
    assert 'data-bulk-confirm="remove" disabled>Remove selected</button>' in body
    assert f'formaction="/overlays/{overlay.pk}/items/pin/" disabled>Pin selected</button>' in body
    # With rows the buttons work, and there is nothing to clear.
    body = _page(owner_client, overlay)
    assert 'data-bulk-confirm="remove">Remove selected</button>' in body and "Clear search" not in body


def _excluded(overlay, *steam_ids):
    collection = OverlayWorkshopCollection.objects.create(overlay=overlay, steam_id="900", title="Pack")
    for steam_id in steam_ids:
        item = WorkshopItem.objects.create(steam_id=steam_id, title=f"Item {steam_id}", file_size=10)
        OverlayCollectionItem.objects.create(collection=collection, item=item)
        OverlayWorkshopExclusion.objects.create(overlay=overlay, item=item)


def test_include_selected_again_links_every_chosen_excluded_item_with_one_build(owner_client, overlay):
    _excluded(overlay, "301", "302", "303")
    body = _page(owner_client, overlay)
    assert 'aria-label="Select excluded Item 302"' in body and "Include selected again</button>" in body

    response = owner_client.post(f"/overlays/{overlay.pk}/items/include/", {"steam_id": ["301", "303"]})

    assert response.status_code == 302
    assert sorted(overlay.workshop_links.values_list("item__steam_id", flat=True)) == ["301", "303"]
    assert list(OverlayWorkshopExclusion.objects.values_list("item__steam_id", flat=True)) == ["302"]
    assert Job.objects.get().reason == "included 2 items"
    assert _message(response).startswith("Included again 2 items: Item 301, Item 303")


def test_include_of_an_item_not_excluded_is_400_and_includes_none(owner_client, overlay):
    _excluded(overlay, "301")
    response = owner_client.post(f"/overlays/{overlay.pk}/items/include/", {"steam_id": ["301", "999"]})
    assert response.status_code == 400
    assert "Workshop item 999 is not excluded from this overlay." in response.content.decode()
    assert OverlayWorkshopExclusion.objects.count() == 1 and not OverlayWorkshopItem.objects.exists()


def test_a_pinned_item_names_the_upload_it_holds(owner_client, overlay):
    _link(overlay, "1", title="Held", updated=1_700_000_000, pinned_version=1_600_000_000)
    row = _row(_page(owner_client, overlay), "1")
    assert '<span class="badge state pinned">pinned</span>' in row
    assert 'to the upload of <time datetime="2020-09-13T12:26:40+00:00">2020-09-13 12:26</time>' in row


def test_sizes_read_in_binary_units_everywhere_on_the_page(owner_client, overlay):
    _link(overlay, "1", title="Eight", size=8 * 2**20)
    body = _page(owner_client, overlay)
    assert "8.0 MiB" in _row(body, "1") and "8.4 MB" not in body and "8.0 MB" not in body
    assert "1/1 ready · 8.0 MiB" in body
