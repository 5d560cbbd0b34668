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


def test_the_superuser_sees_and_may_act_on_every_overlay(admin_client: Client, victim) -> None:
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


# --- who may do what: permissions, not staff status ---------------------------------------

OPERATOR_PERMISSIONS = {
    "overlays.manage_all_overlays",
    "overlays.view_storage",
    "jobs.manage_all_jobs",
    "servers.manage_servers",  # servers migration 0002
}


@pytest.fixture
def staff_client(client: Client, staff) -> Client:
    client.force_login(staff)
    return client


def test_staff_without_the_permissions_are_refused_like_anyone(staff_client: Client, victim) -> None:
    overlay, job = victim
    before = snapshot(overlay, job)
    for method, url, data in routes(overlay, job):
        assert getattr(staff_client, method)(url, data).status_code == 403, (method, url)
    assert staff_client.get("/storage/").status_code == 403
    assert staff_client.post("/storage/collect/").status_code == 403
    assert overlay.name not in staff_client.get("/overlays/").content.decode()
    assert f"/jobs/{job.pk}/" not in staff_client.get("/jobs/").content.decode()
    assert snapshot(overlay, job) == before
    assert staff_client.get("/admin/").status_code == 200  # staff status still opens the admin


@pytest.mark.parametrize("who", ["operator", "superuser"])
def test_operators_and_the_superuser_see_and_act_on_everything(client: Client, victim, who, request) -> None:
    overlay, job = victim
    client.force_login(request.getfixturevalue(who))
    for url in (
        f"/overlays/{overlay.pk}/",
        f"/jobs/{job.pk}/",
        f"/jobs/{job.pk}/status/?after=0",
        "/storage/",
    ):
        assert client.get(url).status_code == 200, url
    assert overlay.name in client.get("/overlays/").content.decode()
    jobs_page = client.get("/jobs/").content.decode()
    assert f"/jobs/{job.pk}/" in jobs_page and "<th>Owner</th>" in jobs_page
    assert 'href="/storage/"' in jobs_page
    assert client.post(f"/jobs/{job.pk}/cancel/").status_code == 302
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED


def test_an_operator_who_is_not_staff_has_no_admin(client: Client, operator) -> None:
    client.force_login(operator)
    assert 'href="/admin/"' not in client.get("/overlays/").content.decode()
    assert client.get("/admin/").status_code == 302  # to the admin's login


def test_one_permission_grants_only_its_power(client: Client, owner, victim) -> None:
    from django.contrib.auth.models import Permission

    overlay, job = victim
    owner.user_permissions.add(Permission.objects.get(codename="manage_all_jobs"))
    client.force_login(owner)
    assert client.get(f"/jobs/{job.pk}/").status_code == 200
    assert client.get(f"/overlays/{overlay.pk}/").status_code == 403
    assert client.get("/storage/").status_code == 403


def test_the_migration_made_the_operators_group_with_every_power(django_user_model) -> None:
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="Operators")
    held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert held == OPERATOR_PERMISSIONS
    member = django_user_model.objects.create_user("member", password="pw-member-123")
    member.groups.add(group)
    assert django_user_model.objects.get(pk=member.pk).get_all_permissions() == OPERATOR_PERMISSIONS


def test_the_operators_migration_runs_twice_and_backwards() -> None:
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group

    migration = importlib.import_module("overlays.migrations.0010_operators_group")
    migration.create_operators(apps, None)  # again, over what the migrations made
    assert Group.objects.filter(name="Operators").count() == 1
    assert Group.objects.get(name="Operators").permissions.count() == 4  # servers 0002 added one
    migration.remove_operators(apps, None)
    assert not Group.objects.filter(name="Operators").exists()
    migration.create_operators(apps, None)
    assert Group.objects.get(name="Operators").permissions.count() == 3
