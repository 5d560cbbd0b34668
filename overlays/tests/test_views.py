from __future__ import annotations

import re

import pytest
from django.test import Client

from jobs.models import Job
from overlays.models import Overlay, OverlayWorkshopItem
from overlays.services import overlay_create
from tests.support.helpers import T0, put_in_cache
from workshop.models import WorkshopItem

pytestmark = pytest.mark.django_db


def _routes(overlay):
    base = f"/overlays/{overlay.pk}"
    return [
        ("get", f"{base}/"),
        ("post", f"{base}/items/"),
        ("post", f"{base}/items/101/delete/"),
        ("post", f"{base}/refresh/"),
        ("post", f"{base}/delete/"),
    ]


def test_list_shows_own_overlays_with_counts_and_build_state(owner_client, owner, stranger, overlay):
    overlay_create(owner=stranger, name="not-mine")
    item = WorkshopItem.objects.create(steam_id="101", file_size=2048)
    OverlayWorkshopItem.objects.create(overlay=overlay, item=item)
    Job.objects.create(operation="build_overlay", subject=overlay, owner=overlay.owner, state="failed")

    response = owner_client.get("/overlays/")

    body = response.content.decode()
    assert response.status_code == 200
    assert "campaigns" in body and "not-mine" not in body
    assert "2.0 KiB" in body
    assert '<span class="badge failed">failed</span>' in body


def test_operators_list_shows_every_overlay_with_its_owner_staff_only_their_own(
    client, operator, staff, overlay
):
    client.force_login(staff)
    body = client.get("/overlays/").content.decode()
    assert "campaigns" not in body and "<th>Owner</th>" not in body
    client.force_login(operator)
    body = client.get("/overlays/").content.decode()
    assert "campaigns" in body and "<th>Owner</th>" in body and "<td>alice</td>" in body


def test_list_uses_few_queries(owner_client, owner, django_assert_max_num_queries):
    for n in range(30):
        overlay_create(owner=owner, name=f"o{n}")
    # The session, the user, their permissions (own and groups', for the navigation), the page,
    # the hosts offered.
    with django_assert_max_num_queries(8):
        assert owner_client.get("/overlays/").status_code == 200


def test_create_redirects_to_the_new_overlay(owner_client, owner):
    response = owner_client.post("/overlays/", {"name": "maps"})
    overlay = Overlay.objects.get(owner=owner, name="maps")
    assert response.status_code == 302
    assert response["Location"] == f"/overlays/{overlay.pk}/"
    assert overlay.addons_path.is_dir()


@pytest.mark.parametrize(("name", "message"), [("", "name is required"), ("campaigns", "already have")])
def test_create_with_a_bad_name_rerenders_with_400(owner_client, overlay, name, message):
    response = owner_client.post("/overlays/", {"name": name})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Overlay.objects.count() == 1


@pytest.mark.parametrize("name", ["\u202egnp.exe", "zero\u200bwidth", "joiner\u200d", "bom\ufeff"])
def test_create_refuses_format_characters_with_400(owner_client, overlay, name):
    response = owner_client.post("/overlays/", {"name": name})
    assert response.status_code == 400
    assert "name must not contain control or format characters" in response.content.decode()
    assert Overlay.objects.count() == 1


def test_detail_shows_items_with_cache_state(owner_client, overlay):
    cached = WorkshopItem.objects.create(
        steam_id="101", title="Cached", file_url="http://x/1", file_size=3, time_updated=T0
    )
    put_in_cache(cached, b"abc")
    stale = WorkshopItem.objects.create(steam_id="102", title="Stale", file_url="http://x/2", file_size=9)
    put_in_cache(stale, b"abc")
    missing = WorkshopItem.objects.create(steam_id="103", title="Missing", file_url="http://x/3")
    gone = WorkshopItem.objects.create(steam_id="104", title="Gone", last_error="steam result 9")
    for item in (cached, stale, missing, gone):
        OverlayWorkshopItem.objects.create(overlay=overlay, item=item)

    body = owner_client.get(f"/overlays/{overlay.pk}/").content.decode()

    states = {
        "101": "cached",
        "102": "update available",
        "103": "waiting",
        "104": "skipped: steam result 9",
    }
    for steam_id, state in states.items():
        assert re.search(rf'id="item-{steam_id}".*?class="badge state [a-z]+">{state}</span>', body, re.S)
    assert "https://steamcommunity.com/sharedfiles/filedetails/?id=101" in body
    assert "Refresh from Steam" in body
    assert f'action="/overlays/{overlay.pk}/refresh/"' in body
    # Every Remove button posts its item through the one CSRF-protected form.
    assert (
        body.count(f'<form method="post" id="row-actions" action="/overlays/{overlay.pk}/items/remove/">')
        == 1
    )
    for steam_id in ("101", "102", "103", "104"):
        assert f'form="row-actions" class="danger" name="steam_id" value="{steam_id}"' in body


def test_the_remove_form_unlinks_the_item_it_names(owner_client, overlay):
    item = WorkshopItem.objects.create(steam_id="106", title="Leaving", file_url="http://x/6")
    OverlayWorkshopItem.objects.create(overlay=overlay, item=item)
    response = owner_client.post(f"/overlays/{overlay.pk}/items/remove/", {"steam_id": "106"})
    assert response.status_code == 302 and response["Location"].startswith("/jobs/")
    assert not OverlayWorkshopItem.objects.filter(overlay=overlay).exists()
    assert owner_client.post(f"/overlays/{overlay.pk}/items/remove/", {"steam_id": "106"}).status_code == 400


def test_remove_button_unlinks_the_item(owner_client, overlay):
    item = WorkshopItem.objects.create(steam_id="105", title="Leaving", file_url="http://x/5")
    OverlayWorkshopItem.objects.create(overlay=overlay, item=item)
    response = owner_client.post(f"/overlays/{overlay.pk}/items/105/delete/")
    assert response.status_code == 302 and response["Location"].startswith("/jobs/")
    assert not OverlayWorkshopItem.objects.filter(overlay=overlay).exists()


def test_detail_keeps_the_add_form_while_a_build_is_active(owner_client, overlay):
    Job.objects.create(operation="build_overlay", subject=overlay, owner=overlay.owner, state="running")
    body = owner_client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert f'action="/overlays/{overlay.pk}/items/"' in body
    assert "what you add now is built right after it" in body
    assert 'data-building="1"' in body


def test_detail_of_2000_items_uses_few_queries(owner_client, overlay, django_assert_max_num_queries):
    WorkshopItem.objects.bulk_create(
        [WorkshopItem(steam_id=str(10_000 + n), file_url="u") for n in range(2000)]
    )
    OverlayWorkshopItem.objects.bulk_create(
        [OverlayWorkshopItem(overlay=overlay, item=item) for item in WorkshopItem.objects.all()]
    )
    with django_assert_max_num_queries(10):
        response = owner_client.get(f"/overlays/{overlay.pk}/")
    body = response.content.decode()
    assert body.count('class="badge state waiting"') == 100
    assert "Page 1 of 20" in body


@pytest.mark.parametrize("index", range(5))
def test_every_route_is_403_for_another_user(client, stranger, overlay, index):
    client.force_login(stranger)
    method, url = _routes(overlay)[index]
    response = getattr(client, method)(
        url, {"input": "101", "input_mode": "items"} if method == "post" else None
    )
    assert response.status_code == 403
    assert Overlay.objects.filter(pk=overlay.pk).exists()
    assert not Job.objects.exists()


@pytest.mark.parametrize("index", range(5))
def test_every_route_needs_a_login(client, overlay, index):
    method, url = _routes(overlay)[index]
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_posts_need_a_csrf_token(owner, overlay):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(f"/overlays/{overlay.pk}/delete/").status_code == 403
    assert client.post("/overlays/", {"name": "x"}).status_code == 403
    assert Overlay.objects.filter(pk=overlay.pk).exists()


def test_operators_may_open_anyones_overlay_staff_may_not(client, operator, staff, overlay):
    client.force_login(staff)
    assert client.get(f"/overlays/{overlay.pk}/").status_code == 403
    client.force_login(operator)
    body = client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert "<dt>Owner</dt><dd>alice</dd>" in body


def test_unknown_overlay_is_404(owner_client):
    assert owner_client.get("/overlays/999/").status_code == 404


def test_delete_route_hides_the_overlay_at_once_and_a_job_removes_it(owner_client, overlay):
    from overlays.tasks import delete_overlay

    path = overlay.path
    response = owner_client.post(f"/overlays/{overlay.pk}/delete/", {"confirm_name": overlay.name})
    assert response.status_code == 302
    assert response["Location"] == "/overlays/"
    listed = owner_client.get("/overlays/").content.decode()
    assert f'href="/overlays/{overlay.pk}/"' not in listed and "folder is removed in the background" in listed
    assert owner_client.get(f"/overlays/{overlay.pk}/").status_code == 404
    job = Job.objects.get(operation="delete_overlay")
    assert path.exists()  # the worker removes it

    delete_overlay.apply(args=[job.pk])

    assert not Overlay.objects.exists()
    assert not path.exists()
    job.refresh_from_db()
    assert job.state == "succeeded"
