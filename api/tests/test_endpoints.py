"""The API's reads and answers: shapes, item states as the page shows them, access to others'
objects, bad input, the OpenAPI document and its docs page."""

from __future__ import annotations

import re

import pytest

from api.services import token_create
from api.tests.conftest import ApiClient
from jobs.models import Job, JobItem, JobLogLine
from overlays.services import overlay_create
from tests.support.helpers import item_from_steam, make_job, put_in_cache
from workshop.cache import keep_version
from workshop.models import WorkshopItem, WorkshopItemContents

pytestmark = pytest.mark.django_db

OLD, NEW = 1_700_000_000, 1_700_000_900


def test_overlays_list_and_read(api, owner, stranger, overlay, steam):
    overlay_create(owner=stranger, name="not mine")
    steam.add_item("101", size=1000)
    item_from_steam(steam, "101", overlay=overlay)
    assert api("GET", "/overlays").json() == [
        {
            "id": overlay.pk,
            "name": "campaigns",
            "owner": "alice",
            "host": "local",
            "build_state": None,
            "url": f"/overlays/{overlay.pk}/",
        }
    ]
    body = api("GET", f"/overlays/{overlay.pk}").json()
    assert body["items"] == {"total": 1, "ready": 0, "failed": 0, "skipped": 0, "pinned": 0, "size": 1000}
    assert (body["latest_build"], body["collections"], body["share_url"]) == (None, [], None)


def test_an_operator_lists_everyones_overlays(client, operator, owner, overlay):
    operator_api = ApiClient(client, token_create(user=operator, name="ops").secret)
    assert [row["owner"] for row in operator_api("GET", "/overlays").json()] == ["alice"]
    assert operator_api("GET", f"/overlays/{overlay.pk}").status_code == 200


def test_the_overlay_reads_with_its_players_page_while_it_is_on(api, operator, client, overlay):
    assert api("GET", f"/overlays/{overlay.pk}").json()["share_url"] is None
    url = api("POST", f"/overlays/{overlay.pk}/share").json()["share_url"]
    overlay.refresh_from_db()
    assert url == f"http://testserver/p/{overlay.share_token}/"
    assert client.get(url.removeprefix("http://testserver")).status_code == 200
    operator_api = ApiClient(client, token_create(user=operator, name="ops").secret)
    assert operator_api("POST", f"/overlays/{overlay.pk}/share").json() == {
        "detail": "only its owner shares an overlay"
    }
    assert api("POST", f"/overlays/{overlay.pk}/share/revoke").json()["share_url"] is None
    assert client.get(url.removeprefix("http://testserver")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/overlays/{pk}"),
        ("DELETE", "/overlays/{pk}"),
        ("GET", "/overlays/{pk}/items"),
        ("POST", "/overlays/{pk}/build"),
    ],
)
def test_another_users_overlay_answers_403_and_a_missing_one_404(stranger_api, overlay, method, path):
    assert stranger_api(method, path.format(pk=overlay.pk)).status_code == 403
    assert stranger_api(method, path.format(pk=overlay.pk + 100)).status_code == 404
    assert stranger_api(method, path.format(pk=overlay.pk + 100)).json() == {"detail": "Not Found"}


def test_items_are_listed_with_the_state_the_page_shows(api, overlay, steam):
    for steam_id, size in (("101", 100), ("102", 200), ("103", 300)):
        steam.add_item(steam_id, size=size)
    cached = item_from_steam(
        steam, "101", overlay=overlay, cached_version=steam.details["101"]["time_updated"]
    )
    put_in_cache(cached, b"x" * 100)
    item_from_steam(steam, "102", overlay=overlay, last_error="download failed: HTTP 503")
    item_from_steam(steam, "103", overlay=overlay)
    body = api("GET", f"/overlays/{overlay.pk}/items").json()
    assert (body["count"], body["page"], body["pages"]) == (3, 1, 1)
    rows = {row["steam_id"]: row for row in body["items"]}
    assert {sid: (row["state"], row["label"], row["size"], row["pinned"]) for sid, row in rows.items()} == {
        "101": ("cached", "cached", 100, False),
        "102": ("failed", "failed: HTTP 503", 200, False),
        "103": ("waiting", "waiting", 300, False),
    }
    filtered = api("GET", f"/overlays/{overlay.pk}/items?state=failed").json()
    assert [row["steam_id"] for row in filtered["items"]] == ["102"]


def test_an_items_history_lists_its_kept_uploads_newest_first(api, overlay, steam, settings):
    steam.add_item("101", size=100, time_updated=NEW)
    item = item_from_steam(steam, "101", overlay=overlay)
    for version in (OLD, NEW):
        keep_version(settings.WORKSHOP_CACHE_ROOT, "101", put_in_cache(item, b"x" * 3, mtime=version))
    WorkshopItemContents.objects.create(
        item=item, version=NEW, title="Remix", addon_version="2", file_size=3, changes={"maps_added": ["c1"]}
    )

    body = api("GET", f"/overlays/{overlay.pk}/items/101/history").json()

    assert [(u["version"], u["newest"], u["size"], u["title"], u["changes"]) for u in body] == [
        (NEW, True, 3, "Remix", {"maps_added": ["c1"]}),
        (OLD, False, None, "", {}),
    ]
    assert api("GET", f"/overlays/{overlay.pk}/items/999/history").status_code == 404


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"input": "101", "mode": "everything"}, "unknown input mode: 'everything'"),
        ({"mode": "items"}, "input: Field required"),
        ({"input": 101}, "input: Input should be a valid string"),
        ({"input": "101 https://example.org/x"}, "not a workshop id or URL: 'https://example.org/x'"),
    ],
)
def test_bad_input_answers_400_naming_it(api, overlay, steam, body, detail):
    steam.add_item("101", size=16)
    response = api("POST", f"/overlays/{overlay.pk}/items", body)
    assert (response.status_code, response.json()) == (400, {"detail": detail})
    assert not WorkshopItem.objects.exists() and not Job.objects.exists()


def test_a_body_that_is_not_json_answers_400(api, overlay):
    response = api.client.post(
        f"/api/v1/overlays/{overlay.pk}/items",
        data="{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.secret}"},
    )
    assert response.status_code == 400 and "detail" in response.json()


def test_adding_answers_202_with_the_build_and_what_was_left_out(api, overlay, steam):
    steam.add_item("101", size=16)
    steam.add_item("102", size=16, file_url="")  # Steam serves no file: left out of the collection
    steam.add_collection("900", ["101", "102"])
    response = api("POST", f"/overlays/{overlay.pk}/items", {"input": "900"})
    job = Job.objects.get()
    assert response.status_code == 202
    assert response.json() == {
        "job": job.pk,
        "url": f"/jobs/{job.pk}/",
        "added": 1,
        "left_out": [response.json()["left_out"][0]],
    }
    assert "workshop item 102 of collection 900 left out" in response.json()["left_out"][0]
    assert api("GET", f"/overlays/{overlay.pk}").json()["collections"] == [
        {"steam_id": "900", "title": steam.details["900"]["title"]}
    ]


def test_a_job_reads_with_its_state_log_lines_and_items(api, stranger_api, overlay):
    job = make_job("build_overlay", subject=overlay, state=Job.State.RUNNING)
    JobLogLine.objects.create(job=job, seq=1, text="downloading 101")
    JobLogLine.objects.create(job=job, seq=2, text="101 failed", stream="stderr")
    JobItem.objects.create(
        job=job, key="101", title="Big map", state="downloading", bytes_done=5, bytes_total=10
    )
    body = api("GET", f"/jobs/{job.pk}").json()
    assert (body["id"], body["state"], body["operation"]) == (job.pk, "running", "build_overlay")
    assert [(line["seq"], line["stream"], line["text"]) for line in body["lines"]] == [
        (1, "stdout", "downloading 101"),
        (2, "stderr", "101 failed"),
    ]
    assert [(i["key"], i["state"], i["percent"]) for i in body["items"]] == [("101", "downloading", 50)]
    assert [line["seq"] for line in api("GET", f"/jobs/{job.pk}?after=1").json()["lines"]] == [2]
    assert stranger_api("GET", f"/jobs/{job.pk}").status_code == 403
    assert stranger_api("POST", f"/jobs/{job.pk}/cancel").status_code == 403
    assert api("GET", f"/jobs/{job.pk + 100}").status_code == 404

    cancelled = api("POST", f"/jobs/{job.pk}/cancel")
    assert cancelled.json() == {"job": job.pk, "url": f"/jobs/{job.pk}/", "state": "cancelling"}


def test_jobs_list_holds_the_users_jobs_newest_first_with_the_pages_filters(api, owner, stranger, overlay):
    older = make_job("build_overlay", subject=overlay, state=Job.State.SUCCEEDED)
    newer = make_job("refresh_overlay", subject=overlay)
    make_job("build_overlay", user=stranger)
    body = api("GET", "/jobs").json()
    assert (body["count"], [row["id"] for row in body["jobs"]]) == (2, [newer.pk, older.pk])
    assert [row["id"] for row in api("GET", "/jobs?state=succeeded").json()["jobs"]] == [older.pk]


def test_the_openapi_document_names_every_path_of_the_api(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {
        "/api/v1/overlays",
        "/api/v1/overlays/{overlay_id}",
        "/api/v1/overlays/{overlay_id}/items",
        "/api/v1/overlays/{overlay_id}/items/{steam_id}",
        "/api/v1/overlays/{overlay_id}/items/{steam_id}/pin",
        "/api/v1/overlays/{overlay_id}/items/{steam_id}/unpin",
        "/api/v1/overlays/{overlay_id}/items/{steam_id}/rollback",
        "/api/v1/overlays/{overlay_id}/collections/{steam_id}/unfollow",
        "/api/v1/overlays/{overlay_id}/collections/{steam_id}/exclude/{item}",
        "/api/v1/overlays/{overlay_id}/collections/{steam_id}/include/{item}",
        "/api/v1/overlays/{overlay_id}/refresh",
        "/api/v1/overlays/{overlay_id}/build",
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/cancel",
    } <= set(paths)
    assert set(paths["/api/v1/overlays"]) == {"get", "post"}
    assert set(paths["/api/v1/overlays/{overlay_id}"]) == {"get", "delete"}


def test_the_docs_page_loads_only_left4mes_own_scripts(client):
    response = client.get("/api/v1/docs")
    page = response.content.decode()
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>", page)
    # Every executable script is a file of left4me's static folder; the settings are JSON data.
    assert all('src="/static/ninja/' in attrs or 'type="application/json"' in attrs for attrs in scripts), (
        scripts
    )
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


def test_a_script_posts_without_a_csrf_token(owner_token):
    from django.test import Client

    strict = ApiClient(Client(enforce_csrf_checks=True), owner_token)
    assert strict("POST", "/overlays", {"name": "from a bot"}).status_code == 201
