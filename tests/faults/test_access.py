"""Another user's overlay and job: 403 on every route, and nothing changes."""

from __future__ import annotations

import pytest
from django.test import Client

from jobs.models import Job
from overlays.models import Overlay, OverlayWorkshopItem
from workshop.models import WorkshopItem

pytestmark = [pytest.mark.faults, pytest.mark.django_db]


@pytest.fixture
def victim(django_user_model):
    owner = django_user_model.objects.create_user("victim", password="pw-123456")
    overlay = Overlay.objects.create(owner=owner, name="private")
    item = WorkshopItem.objects.create(steam_id="123456", title="Map", file_url="http://127.0.0.1:9/x")
    OverlayWorkshopItem.objects.create(overlay=overlay, item=item)
    job = Job.objects.create(operation="build_overlay", user=owner, subject=overlay, owner=overlay.owner)
    return overlay, job


@pytest.fixture
def stranger_client(client: Client, stranger) -> Client:
    client.force_login(stranger)
    return client


def routes(overlay: Overlay, job: Job) -> list[tuple[str, str, dict]]:
    o, j = overlay.pk, job.pk
    return [
        ("get", f"/overlays/{o}/", {}),
        ("post", f"/overlays/{o}/items/", {"input": "123457", "input_mode": "items"}),
        ("post", f"/overlays/{o}/items/123456/delete/", {}),
        ("post", f"/overlays/{o}/refresh/", {}),
        ("post", f"/overlays/{o}/delete/", {}),
        ("get", f"/jobs/{j}/", {}),
        ("get", f"/jobs/{j}/status/?after=0", {}),
        ("post", f"/jobs/{j}/cancel/", {}),
    ]


def snapshot(overlay: Overlay, job: Job) -> tuple:
    job.refresh_from_db()
    return (
        Overlay.objects.filter(pk=overlay.pk).exists(),
        list(OverlayWorkshopItem.objects.values_list("overlay_id", "item_id")),
        WorkshopItem.objects.count(),
        list(Job.objects.values_list("id", "state")),
    )


def test_every_route_is_forbidden_to_another_user(stranger_client: Client, victim) -> None:
    overlay, job = victim
    before = snapshot(overlay, job)
    for method, url, data in routes(overlay, job):
        response = getattr(stranger_client, method)(url, data)
        assert response.status_code == 403, (method, url, response.status_code)
        # The other verb on the same route is refused too: never a 200, never a change.
        other = stranger_client.post(url, data) if method == "get" else stranger_client.get(url)
        assert other.status_code in (403, 405), (url, other.status_code)
    assert snapshot(overlay, job) == before


def test_lists_show_only_own_rows(stranger_client: Client, victim) -> None:
    overlay, job = victim
    overlays_page = stranger_client.get("/overlays/").content.decode()
    jobs_page = stranger_client.get("/jobs/").content.decode()
    assert overlay.name not in overlays_page
    assert f"/jobs/{job.pk}/" not in jobs_page


def test_staff_sees_and_may_act_on_every_overlay(admin_client: Client, victim) -> None:
    overlay, job = victim
    assert admin_client.get(f"/overlays/{overlay.pk}/").status_code == 200
    assert admin_client.get(f"/jobs/{job.pk}/").status_code == 200
    assert admin_client.get(f"/jobs/{job.pk}/status/?after=0").status_code == 200
    assert overlay.name in admin_client.get("/overlays/").content.decode()
    assert f"/jobs/{job.pk}/" in admin_client.get("/jobs/").content.decode()


def test_anonymous_is_sent_to_login_everywhere(client: Client, victim) -> None:
    overlay, job = victim
    for method, url, data in routes(overlay, job):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
