"""The players' page: turned on and off by its owner, open without a login at an unguessable link,
showing the addons (never paths, hosts, owners or jobs), cached, and cheap at 2,000 items."""

from __future__ import annotations

import gzip
import json

import pytest
from django.core.cache import cache
from django.test import Client

from jobs.models import Job
from left4me.models import Host
from overlays.models import Overlay, OverlayWorkshopCollection, OverlayWorkshopItem
from overlays.players import overlay_share
from workshop.models import WorkshopItem

pytestmark = pytest.mark.django_db


def _item(overlay, steam_id, *, title="", size=1000, preview=""):
    item = WorkshopItem.objects.create(
        steam_id=steam_id, title=title, file_size=size, preview_url=preview, file_url="https://cdn/x"
    )
    return OverlayWorkshopItem.objects.create(overlay=overlay, item=item)


@pytest.fixture
def shared(overlay):
    """The owner's overlay with two items, a followed collection and a campaign, shared."""
    _item(overlay, "1001", title="Dark Carnival Remix", size=3 * 2**20, preview="https://img.example/1.jpg")
    _item(overlay, "1002", title="Better Shotgun", size=2**20)
    OverlayWorkshopCollection.objects.create(overlay=overlay, steam_id="5005", title="Our maps")
    overlay.campaigns = [
        {
            "steam_id": "1001",
            "item_title": "Dark Carnival Remix",
            "name": "Carnival Remix",
            "modes": {"coop": ["c2m1_remix", "c2m2_remix"]},
            "problem": "",
        },
        {
            "steam_id": "1002",
            "item_title": "Better Shotgun",
            "name": "Broken",
            "modes": {},
            "problem": "missions/x.txt in /srv/left4me/workshop_cache/1002.vpk unreadable",
        },
    ]
    overlay.save()
    overlay_share(overlay=overlay)
    return overlay


def test_sharing_is_off_until_the_owner_turns_it_on_and_the_overlay_page_then_shows_the_link(
    owner_client, overlay
):
    page = owner_client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert "Turn on the players' page" in page and 'id="share-link"' not in page

    response = owner_client.post(f"/overlays/{overlay.pk}/share/")

    assert response.status_code == 302 and response["Location"] == f"/overlays/{overlay.pk}/#players"
    overlay.refresh_from_db()
    assert overlay.share_token and len(overlay.share_token) >= 32
    page = owner_client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert f'<code id="share-link">http://testserver/p/{overlay.share_token}/</code>' in page
    assert 'data-copy="share-link"' in page
    # Asking again keeps the link players already have.
    owner_client.post(f"/overlays/{overlay.pk}/share/")
    assert Overlay.objects.get(pk=overlay.pk).share_token == overlay.share_token


def test_revoke_turns_the_link_off_and_sharing_again_makes_a_new_one(owner_client, shared):
    old = shared.share_token
    assert Client().get(f"/p/{old}/").status_code == 200

    response = owner_client.post(f"/overlays/{shared.pk}/share/revoke/")

    assert response.status_code == 302
    assert Overlay.objects.get(pk=shared.pk).share_token is None
    assert Client().get(f"/p/{old}/").status_code == 404
    assert Client().get(f"/p/{old}/addons.json").status_code == 404
    owner_client.post(f"/overlays/{shared.pk}/share/")
    new = Overlay.objects.get(pk=shared.pk).share_token
    assert new and new != old
    assert Client().get(f"/p/{new}/").status_code == 200


def test_only_the_owner_shares_and_a_stranger_may_do_neither(client, stranger, operator, overlay):
    client.force_login(stranger)
    assert client.post(f"/overlays/{overlay.pk}/share/").status_code == 403
    client.force_login(operator)
    assert client.post(f"/overlays/{overlay.pk}/share/").status_code == 403
    assert Overlay.objects.get(pk=overlay.pk).share_token is None
    overlay_share(overlay=overlay)
    client.force_login(stranger)
    assert client.post(f"/overlays/{overlay.pk}/share/revoke/").status_code == 403
    assert Overlay.objects.get(pk=overlay.pk).share_token
    # An operator may take a page down.
    client.force_login(operator)
    assert client.post(f"/overlays/{overlay.pk}/share/revoke/").status_code == 302
    assert Overlay.objects.get(pk=overlay.pk).share_token is None


def test_a_get_of_the_share_routes_changes_nothing(owner_client, overlay):
    assert owner_client.get(f"/overlays/{overlay.pk}/share/").status_code == 302
    assert Overlay.objects.get(pk=overlay.pk).share_token is None


def test_the_page_shows_the_addons_without_a_login_and_nothing_of_the_host(shared):
    Job.objects.create(operation="build_overlay", error="failed at /srv/left4me/overlays/1")
    Host.objects.filter(name="local").update(root="/srv/left4me")

    response = Client().get(f"/p/{shared.share_token}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>campaigns</h1>" in body
    assert (
        '<a href="https://steamcommunity.com/sharedfiles/filedetails/?id=1001">Dark Carnival Remix</a>'
        in body
    )
    assert 'src="https://img.example/1.jpg"' in body
    assert "3.0 MiB" in body and "4.0 MiB in all" in body
    assert "Carnival Remix" in body and "c2m1_remix, c2m2_remix" in body
    assert '<a href="https://steamcommunity.com/sharedfiles/filedetails/?id=5005">Our maps</a>' in body
    for secret in ("/srv/left4me", "alice", "local", "build_overlay", "Broken", f"/overlays/{shared.pk}"):
        assert secret not in body, secret
    assert response["X-Robots-Tag"] == "noindex"
    assert response["Referrer-Policy"] == "same-origin"  # the link is not sent on to Steam


def test_the_json_form_holds_the_same(shared):
    response = Client().get(f"/p/{shared.share_token}/addons.json")

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = json.loads(response.content)
    assert data["name"] == "campaigns"
    assert data["total_size"] == 4 * 2**20
    assert [item["steam_id"] for item in data["items"]] == ["1002", "1001"]  # by title
    assert data["items"][1] == {
        "steam_id": "1001",
        "title": "Dark Carnival Remix",
        "size": 3 * 2**20,
        "thumbnail": "https://img.example/1.jpg",
        "workshop_url": "https://steamcommunity.com/sharedfiles/filedetails/?id=1001",
    }
    assert data["campaigns"] == [
        {
            "name": "Carnival Remix",
            "steam_id": "1001",
            "item_title": "Dark Carnival Remix",
            "modes": {"coop": ["c2m1_remix", "c2m2_remix"]},
        }
    ]
    assert data["collections"] == [
        {
            "steam_id": "5005",
            "title": "Our maps",
            "workshop_url": "https://steamcommunity.com/sharedfiles/filedetails/?id=5005",
        }
    ]
    assert "alice" not in response.content.decode() and "owner" not in data and "host" not in data


def test_unknown_or_deleted_pages_answer_404(shared):
    assert Client().get("/p/not-a-token/").status_code == 404
    assert Client().get(f"/p/{'x' * 200}/").status_code == 404
    Overlay.objects.filter(pk=shared.pk).update(deleting=True)
    assert Client().get(f"/p/{shared.share_token}/").status_code == 404


def test_the_page_is_cached_and_the_owners_changes_show_at_once(shared, django_assert_max_num_queries):
    url = f"/p/{shared.share_token}/"
    Client().get(url)
    with django_assert_max_num_queries(3):  # the token, and the marker's two counts
        assert "Better Shotgun" in Client().get(url).content.decode()

    OverlayWorkshopItem.objects.filter(item__steam_id="1002").delete()
    assert "Better Shotgun" not in Client().get(url).content.decode()
    _item(shared, "1003", title="Witch Hat")
    assert "Witch Hat" in Client().get(url).content.decode()
    OverlayWorkshopCollection.objects.filter(overlay=shared).delete()
    assert "Our maps" not in Client().get(url).content.decode()
    Overlay.objects.filter(pk=shared.pk).update(name="renamed", campaigns=[])
    body = Client().get(url).content.decode()
    assert "<h1>renamed</h1>" in body and "c2m1_remix" not in body


def test_what_steam_changes_shows_once_the_cached_page_expires(shared, settings):
    url = f"/p/{shared.share_token}/addons.json"
    Client().get(url)
    WorkshopItem.objects.filter(steam_id="1001").update(title="Dark Carnival Remix 2")
    assert "Remix 2" not in Client().get(url).content.decode()

    cache.clear()  # LEFT4ME_PLAYERS_CACHE_SECONDS passed

    assert "Remix 2" in Client().get(url).content.decode()


def test_browsers_that_take_gzip_get_it(shared):
    plain = Client().get(f"/p/{shared.share_token}/")
    packed = Client().get(f"/p/{shared.share_token}/", HTTP_ACCEPT_ENCODING="gzip, deflate, br")

    assert packed["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain
    assert gzip.decompress(packed.content) == plain.content
    assert plain["Vary"] == packed["Vary"] == "Accept-Encoding"


def test_a_page_of_2000_items_answers_in_at_most_10_queries(shared, django_assert_max_num_queries):
    items = WorkshopItem.objects.bulk_create(
        WorkshopItem(steam_id=str(900_000 + n), title=f"Map {n:04d}", file_size=n) for n in range(1998)
    )
    OverlayWorkshopItem.objects.bulk_create(OverlayWorkshopItem(overlay=shared, item=item) for item in items)

    for url in (f"/p/{shared.share_token}/", f"/p/{shared.share_token}/addons.json"):
        with django_assert_max_num_queries(10):
            response = Client().get(url)
        assert response.status_code == 200
    assert len(json.loads(response.content)["items"]) == 2000
