"""For every page action there is an API endpoint, and both give the same result on the same
input: the same rows afterwards (links, exclusions, collections, jobs), or the same refusal
(status, and the page shows the reason the API's `detail` gives)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.urls import get_resolver
from django.utils import timezone

from api.services import token_create
from api.tests.conftest import ApiClient
from fleet.refresh import items_refresh_all
from jobs.models import Job
from overlays.build import overlay_build
from overlays.items import items_add, items_pin, items_remove
from overlays.models import Overlay, OverlayWorkshopExclusion, OverlayWorkshopItem
from overlays.players import overlay_share
from overlays.services import build_enqueue, overlay_create
from tests.support.helpers import FakeContext
from workshop.models import WorkshopItem

pytestmark = pytest.mark.django_db

OLD, NEW = 1_700_000_000, 1_700_000_900
COLLECTION = "9001"


def _build(overlay: Overlay) -> None:
    overlay_build(overlay=overlay, ctx=FakeContext())


@dataclass(frozen=True)
class Case:
    """A page action and its API endpoint; `{pk}` is the overlay's id, `{job}` its latest job's."""

    route: str  # the page's URL name
    page: tuple[str, dict[str, Any]]
    api: tuple[str, str, dict[str, Any] | None]
    setup: str = "items"  # see _prepare
    status: int = 302  # the page's answer: a redirect, or a refusal the API gives too
    answer: int = 202  # the API's answer when the page redirects


OK, BAD = 302, 400
CASES = {
    "create": Case(
        "overlays:list",
        ("/overlays/", {"name": "new one"}),
        ("POST", "/overlays", {"name": "new one"}),
        answer=201,
    ),
    "create, no name": Case(
        "overlays:list", ("/overlays/", {"name": " "}), ("POST", "/overlays", {"name": " "}), status=BAD
    ),
    "add": Case(
        "overlays:items_add",
        ("/overlays/{pk}/items/", {"input": "103 9001", "input_mode": "auto"}),
        ("POST", "/overlays/{pk}/items", {"input": "103 9001", "mode": "auto"}),
    ),
    "add, bad entry": Case(
        "overlays:items_add",
        ("/overlays/{pk}/items/", {"input": "103 hello", "input_mode": "auto"}),
        ("POST", "/overlays/{pk}/items", {"input": "103 hello", "mode": "auto"}),
        status=BAD,
    ),
    "add, not a collection": Case(
        "overlays:items_add",
        ("/overlays/{pk}/items/", {"input": "103", "input_mode": "collection"}),
        ("POST", "/overlays/{pk}/items", {"input": "103", "mode": "collection"}),
        status=BAD,
    ),
    "remove": Case(
        "overlays:item_delete",
        ("/overlays/{pk}/items/101/delete/", {}),
        ("DELETE", "/overlays/{pk}/items/101", None),
    ),
    "remove (the page's bulk form)": Case(
        "overlays:items_remove",
        ("/overlays/{pk}/items/remove/", {"steam_id": "101"}),
        ("DELETE", "/overlays/{pk}/items/101", None),
    ),
    "remove, not in the overlay": Case(
        "overlays:item_delete",
        ("/overlays/{pk}/items/999/delete/", {}),
        ("DELETE", "/overlays/{pk}/items/999", None),
        status=BAD,
    ),
    "pin": Case(
        "overlays:items_pin",
        ("/overlays/{pk}/items/pin/", {"steam_id": "101"}),
        ("POST", "/overlays/{pk}/items/101/pin", None),
        setup="built",
    ),
    "pin, not downloaded": Case(
        "overlays:items_pin",
        ("/overlays/{pk}/items/pin/", {"steam_id": "101"}),
        ("POST", "/overlays/{pk}/items/101/pin", None),
        status=BAD,
    ),
    "unpin": Case(
        "overlays:items_unpin",
        ("/overlays/{pk}/items/unpin/", {"steam_id": "101"}),
        ("POST", "/overlays/{pk}/items/101/unpin", None),
        setup="pinned",
    ),
    "unpin, not pinned": Case(
        "overlays:items_unpin",
        ("/overlays/{pk}/items/unpin/", {"steam_id": "101"}),
        ("POST", "/overlays/{pk}/items/101/unpin", None),
        status=BAD,
    ),
    "roll back": Case(
        "overlays:items_rollback",
        ("/overlays/{pk}/items/rollback/", {"steam_id": "101"}),
        ("POST", "/overlays/{pk}/items/101/rollback", None),
        setup="updated",
    ),
    "roll back, nothing earlier": Case(
        "overlays:items_rollback",
        ("/overlays/{pk}/items/rollback/", {"steam_id": "101"}),
        ("POST", "/overlays/{pk}/items/101/rollback", None),
        setup="built",
        status=BAD,
    ),
    "roll back to an upload": Case(
        "overlays:item_history",
        ("/overlays/{pk}/items/101/history/", {"version": str(OLD)}),
        ("POST", "/overlays/{pk}/items/101/rollback", {"version": OLD}),
        setup="updated",
    ),
    "roll back to an upload not kept": Case(
        "overlays:item_history",
        ("/overlays/{pk}/items/101/history/", {"version": "123"}),
        ("POST", "/overlays/{pk}/items/101/rollback", {"version": 123}),
        setup="updated",
        status=BAD,
    ),
    "skip the newest upload": Case(
        "overlays:item_skip",
        ("/overlays/{pk}/items/101/skip/", {}),
        ("POST", "/overlays/{pk}/items/101/skip", None),
        setup="updated",
    ),
    "skip, nothing earlier": Case(
        "overlays:item_skip",
        ("/overlays/{pk}/items/101/skip/", {}),
        ("POST", "/overlays/{pk}/items/101/skip", None),
        setup="built",
        status=BAD,
    ),
    "exclude a collection's item": Case(
        "overlays:item_delete",
        ("/overlays/{pk}/items/102/delete/", {}),
        ("POST", f"/overlays/{{pk}}/collections/{COLLECTION}/exclude/102", None),
        setup="collection",
    ),
    "include it again": Case(
        "overlays:item_include",
        ("/overlays/{pk}/items/102/include/", {}),
        ("POST", f"/overlays/{{pk}}/collections/{COLLECTION}/include/102", None),
        setup="excluded",
    ),
    "include (the page's bulk form)": Case(
        "overlays:items_include",
        ("/overlays/{pk}/items/include/", {"steam_id": "102"}),
        ("POST", f"/overlays/{{pk}}/collections/{COLLECTION}/include/102", None),
        setup="excluded",
    ),
    "share": Case(
        "overlays:share", ("/overlays/{pk}/share/", {}), ("POST", "/overlays/{pk}/share", None), answer=200
    ),
    "share off": Case(
        "overlays:share_revoke",
        ("/overlays/{pk}/share/revoke/", {}),
        ("POST", "/overlays/{pk}/share/revoke", None),
        setup="shared",
        answer=200,
    ),
    "include, not excluded": Case(
        "overlays:item_include",
        ("/overlays/{pk}/items/102/include/", {}),
        ("POST", f"/overlays/{{pk}}/collections/{COLLECTION}/include/102", None),
        setup="collection",
        status=BAD,
    ),
    "unfollow": Case(
        "overlays:collection_unfollow",
        (f"/overlays/{{pk}}/collections/{COLLECTION}/unfollow/", {"items": "remove"}),
        ("POST", f"/overlays/{{pk}}/collections/{COLLECTION}/unfollow", {"items": "remove"}),
        setup="collection",
    ),
    "unfollow, no choice": Case(
        "overlays:collection_unfollow",
        (f"/overlays/{{pk}}/collections/{COLLECTION}/unfollow/", {}),
        ("POST", f"/overlays/{{pk}}/collections/{COLLECTION}/unfollow", {}),
        setup="collection",
        status=BAD,
    ),
    "refresh": Case(
        "overlays:refresh", ("/overlays/{pk}/refresh/", {}), ("POST", "/overlays/{pk}/refresh", None)
    ),
    "refresh, no items": Case(
        "overlays:refresh",
        ("/overlays/{pk}/refresh/", {}),
        ("POST", "/overlays/{pk}/refresh", None),
        setup="empty",
        status=BAD,
    ),
    "build": Case("overlays:build", ("/overlays/{pk}/build/", {}), ("POST", "/overlays/{pk}/build", None)),
    "retry failed": Case(
        "overlays:retry_failed",
        ("/overlays/{pk}/retry-failed/", {}),
        ("POST", "/overlays/{pk}/retry-failed", None),
        setup="failed",
    ),
    "retry failed, none failed": Case(
        "overlays:retry_failed",
        ("/overlays/{pk}/retry-failed/", {}),
        ("POST", "/overlays/{pk}/retry-failed", None),
        status=BAD,
    ),
    "move, not an operator": Case(
        "overlays:move",
        ("/overlays/{pk}/move/", {"host": "b"}),
        ("POST", "/overlays/{pk}/move", {"host": "b"}),
        status=403,
    ),
    "delete": Case(
        "overlays:delete",
        ("/overlays/{pk}/delete/", {"confirm_name": "{name}"}),
        ("DELETE", "/overlays/{pk}", None),
    ),
    "cancel a job": Case(
        "jobs:cancel", ("/jobs/{job}/cancel/", {}), ("POST", "/jobs/{job}/cancel", None), answer=200
    ),
    "retry a job now": Case(
        "jobs:retry_now",
        ("/jobs/{job}/retry-now/", {}),
        ("POST", "/jobs/{job}/retry-now", None),
        setup="waiting",
    ),
    "retry a job now, not waiting": Case(
        "jobs:retry_now", ("/jobs/{job}/retry-now/", {}), ("POST", "/jobs/{job}/retry-now", None), status=BAD
    ),
}

# The pages' routes that only read; each has its API read beside it (or says why it has none).
READS = {
    "overlays:detail": "GET /overlays/{id}",
    "overlays:status": "GET /overlays/{id}/items",
    "overlays:item_history": "GET /overlays/{id}/items/{steam_id}/history",
    "overlays:maps_txt": "not in the API: a file for game servers, served by the page itself",
    "overlays:families": "not in the API: a part of the overlay page",
    "jobs:list": "GET /jobs",
    "jobs:detail": "GET /jobs/{id}",
    "jobs:status": "GET /jobs/{id}",
}


# The game servers', notices' and Storage pages' routes: their endpoints, and the tests that hold
# them to the pages' rules (api/tests/test_fleet_endpoints.py), or why a route has none.
ELSEWHERE = {
    "servers:list": "GET /servers",
    "servers:new": "not in the API: operators register game servers on the page",
    "servers:detail": "GET /servers/{id} (operators change a server on the page)",
    "servers:delete": "not in the API: operators remove game servers on the page",
    "servers:apply": "POST /servers/{id}/apply",
    "servers:status": "GET /servers/{id}",
    "notices:list": "GET /notifications, POST /notifications",
    "notices:test": "POST /notifications/{id}/test",
    "notices:delete": "DELETE /notifications/{id}",
    "storage:index": "GET /hosts",
    "storage:collect": "POST /storage/collect",
}


def test_every_page_route_has_its_api_endpoint():
    routes = set()
    for namespace in ("overlays", "jobs", "servers", "notices", "storage"):
        resolver = get_resolver().namespace_dict[namespace][1]
        routes |= {f"{namespace}:{name}" for name in resolver.reverse_dict if isinstance(name, str)}
    assert routes == {case.route for case in CASES.values()} | set(READS) | set(ELSEWHERE)


def _prepare(setup: str, owner: Any, overlay: Overlay, steam: Any) -> None:
    """Make one overlay ready for a case (run on the page's overlay and on the API's alike)."""
    if setup == "empty":
        return
    items_add(overlay=overlay, text="101 102", user=owner)
    if setup in ("built", "pinned", "updated"):
        _build(overlay)
    if setup == "pinned":
        items_pin(overlay=overlay, steam_ids=["101"], user=owner)
    if setup in ("collection", "excluded"):
        items_add(overlay=overlay, text=COLLECTION, input_mode="collection", user=owner)
    if setup == "excluded":
        items_remove(overlay=overlay, steam_ids=["102"], user=owner)
    if setup == "failed":
        WorkshopItem.objects.filter(steam_id="101").update(last_error="download failed: 503")
    if setup == "shared":
        overlay_share(overlay=overlay)
    if setup == "waiting":
        job = build_enqueue(overlay=overlay, user=owner, reason="test")
        Job.objects.filter(pk=job.pk).update(retry_at=timezone.now() + timedelta(hours=1), retries=1)


def _state(overlay: Overlay) -> dict[str, Any]:
    """What an action changes, in terms that do not depend on which overlay it is."""
    overlay = Overlay.objects.get(pk=overlay.pk)
    links = OverlayWorkshopItem.objects.filter(overlay=overlay)
    jobs = Job.objects.of(overlay).order_by("id")
    return {
        "deleting": overlay.deleting,
        "shared": bool(overlay.share_token),
        "links": sorted(links.values_list("item__steam_id", "direct", "pinned_version", "skipped_version")),
        "excluded": sorted(
            OverlayWorkshopExclusion.objects.filter(overlay=overlay).values_list("item__steam_id", flat=True)
        ),
        "collections": sorted(overlay.workshop_collections.values_list("steam_id", flat=True)),
        "jobs": [(j.operation, j.reason, j.state, j.retry_at is None) for j in jobs],
    }


@pytest.fixture
def steam_items(steam):
    steam.add_item("101", size=1000, time_updated=OLD)
    steam.add_item("102", size=2000)
    steam.add_item("103", size=3000)
    steam.add_collection(COLLECTION, ["102", "103"])
    return steam


def _fill(text: str, overlay: Overlay) -> str:
    job = Job.objects.of(overlay).order_by("-id").first()
    return (
        text.replace("{pk}", str(overlay.pk))
        .replace("{job}", str(job.pk if job else 0))
        .replace("{name}", overlay.name)
    )


@pytest.mark.parametrize("name", list(CASES))
def test_the_page_and_the_api_give_the_same_result(name, client, owner, stranger, steam_items):
    case = CASES[name]
    by_page = overlay_create(owner=owner, name="by page")
    by_api = overlay_create(owner=owner, name="by api")
    for overlay in (by_page, by_api):
        _prepare(case.setup, owner, overlay, steam_items)
    if case.setup == "updated":  # a newer upload of 101, fetched and built: 101 has an earlier one
        steam_items.add_item("101", size=1500, time_updated=NEW)
        items_refresh_all(ctx=FakeContext())
        _build(by_page), _build(by_api)
    client.force_login(owner)
    # Create makes a new overlay: the page's for the owner, the API's for another user.
    api = ApiClient(
        client, token_create(user=stranger if name.startswith("create") else owner, name="t").secret
    )

    url, data = case.page
    page = client.post(_fill(url, by_page), {k: _fill(v, by_page) for k, v in data.items()})
    method, path, body = case.api
    answer = api(method, _fill(path, by_api), body)

    assert page.status_code == case.status, page.content.decode()[:2000]
    assert answer.status_code == (case.answer if case.status == OK else case.status), answer.content
    if case.status == BAD:  # the page shows the reason the API gives (whose overlay aside)
        detail = answer.json()["detail"].replace(by_api.name, by_page.name)
        assert detail.lower() in html.unescape(page.content.decode()).lower()
    if name == "create":
        made = [Overlay.objects.filter(owner=user).order_by("-id").first() for user in (owner, stranger)]
        assert [(o.name, o.host.name, o.kind) for o in made] == [("new one", "local", "workshop")] * 2
        assert answer.json()["id"] == made[1].pk
        return
    if case.status == OK and case.answer == 202:
        job = answer.json()["job"]
        assert answer.json()["url"] == f"/jobs/{job}/" and Job.objects.of(by_api).filter(pk=job).exists()
    assert _state(by_page) == _state(by_api)


def test_another_users_overlay_is_refused_by_both_alike(client, owner, stranger, steam_items):
    overlay = overlay_create(owner=owner, name="mine")
    _prepare("excluded", owner, overlay, steam_items)
    before = _state(overlay)
    client.force_login(stranger)
    api = ApiClient(client, token_create(user=stranger, name="t").secret)
    for case in (case for case in CASES.values() if "{pk}" in case.page[0]):
        url, data = case.page
        page = client.post(_fill(url, overlay), {k: _fill(v, overlay) for k, v in data.items()})
        method, path, body = case.api
        answer = api(method, _fill(path, overlay), body)
        assert (page.status_code, answer.status_code) == (403, 403), case
        assert answer.json() == {"detail": "not your overlay"}
    assert _state(overlay) == before
