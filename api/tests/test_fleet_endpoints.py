"""The API's game servers, notice destinations, hosts and cache collection: the pages' access
rules, their answers, and no secret (RCON password, notice URL) ever in a body."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from api.services import token_create
from api.tests.conftest import ApiClient
from fleet.operations import COLLECT_WORKSHOP_CACHE
from jobs.models import Job
from left4me.models import Host, host_default
from notices.models import Destination
from servers.models import GameServer
from servers.operations import APPLY_TO_SERVER

pytestmark = pytest.mark.django_db

DISCORD = "discord://123456789012345678/webhook-token"


@pytest.fixture
def game_server(overlay):
    return GameServer.objects.create(
        name="coop-1",
        overlay=overlay,
        host=overlay.host,
        address="10.0.0.5",
        port=27015,
        rcon_port=27015,
        rcon_password="rcon-s3cret",
        players=3,
        max_players=8,
        map="c2m1_highway",
        state=GameServer.State.UP,
    )


@pytest.fixture
def operator_api(client, operator):
    return ApiClient(client, token_create(user=operator, name="ops").secret)


def test_servers_list_and_read_as_their_pages_with_no_password(api, stranger_api, operator_api, game_server):
    listed = api("GET", "/servers").json()
    assert [(s["name"], s["overlay_name"], s["players"], s["map"]) for s in listed] == [
        ("coop-1", "campaigns", 3, "c2m1_highway")
    ]
    assert stranger_api("GET", "/servers").json() == []
    assert [s["name"] for s in operator_api("GET", "/servers").json()] == ["coop-1"]

    answer = api("GET", f"/servers/{game_server.pk}")
    body = answer.json()
    assert answer.status_code == 200
    assert (body["state"], body["url"], body["applied_build"], body["apply_job"]) == (
        "up",
        f"/servers/{game_server.pk}/",
        None,
        None,
    )
    assert "rcon" not in json.dumps(body).lower() and "s3cret" not in answer.content.decode()
    assert stranger_api("GET", f"/servers/{game_server.pk}").json() == {"detail": "not your server"}
    assert api("GET", f"/servers/{game_server.pk + 1}").status_code == 404


def test_apply_now_answers_202_with_the_apply_job(api, stranger_api, game_server):
    assert stranger_api("POST", f"/servers/{game_server.pk}/apply").status_code == 403
    assert not Job.objects.exists()

    answer = api("POST", f"/servers/{game_server.pk}/apply")

    assert answer.status_code == 202
    job = Job.objects.get(pk=answer.json()["job"])
    assert (job.operation, job.reason, answer.json()["url"]) == (
        APPLY_TO_SERVER.name,
        "asked by hand",
        f"/jobs/{job.pk}/",
    )
    assert GameServer.objects.get(pk=game_server.pk).apply_now
    assert api("GET", f"/servers/{game_server.pk}").json()["apply_job"]["id"] == job.pk


def test_destinations_are_added_listed_tested_and_removed_without_their_url(api, stranger_api, owner):
    answer = api("POST", "/notifications", {"name": "ours", "url": DISCORD})
    assert answer.status_code == 201
    made = answer.json()
    assert (made["name"], made["shown_url"], made["events"], made["disabled"]) == (
        "ours",
        "discord://12…78/…",
        [],
        False,
    )
    assert "webhook-token" not in answer.content.decode()
    assert "webhook-token" not in api("GET", "/notifications").content.decode()
    assert stranger_api("GET", "/notifications").json() == []

    assert stranger_api("POST", f"/notifications/{made['id']}/test").json() == {
        "detail": "not your destination"
    }
    tested = api("POST", f"/notifications/{made['id']}/test")
    assert tested.status_code == 202 and Job.objects.filter(pk=tested.json()["job"]).exists()

    assert stranger_api("DELETE", f"/notifications/{made['id']}").status_code == 403
    assert api("DELETE", f"/notifications/{made['id']}").status_code == 204
    assert not Destination.objects.exists()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "d", "url": "nope"}, ":// is not an apprise URL left4me can send to"),
        ({"name": "d", "url": DISCORD, "events": ["disk_low"]}, "not an event you may take: disk_low"),
        ({"name": "d", "url": "json://127.0.0.1:9/"}, "only operators may add json:// destinations"),
        ({"name": " ", "url": DISCORD}, "a name is required (at most 100 characters)"),
        ({"name": "d"}, "url: Field required"),
    ],
)
def test_a_refused_destination_answers_400_as_the_page_says(api, body, detail):
    answer = api("POST", "/notifications", body)
    assert answer.status_code == 400 and detail in answer.json()["detail"]
    assert not Destination.objects.exists()


def test_hosts_and_cache_collection_are_for_operators(api, operator_api):
    host = host_default()
    Host.objects.filter(pk=host.pk).update(cache_bytes=2**30, free_bytes=2**40, last_seen_at=timezone.now())
    assert api("GET", "/hosts").json() == {"detail": "operators only"}
    assert api("POST", "/storage/collect").status_code == 403

    hosts = operator_api("GET", "/hosts").json()
    assert [(h["name"], h["status"], h["cache_bytes"]) for h in hosts] == [(host.name, "ok", 2**30)]

    first = operator_api("POST", "/storage/collect")
    again = operator_api("POST", "/storage/collect", {"host": host.name})
    assert (first.status_code, first.json()["created"]) == (202, True)
    assert (again.json()["job"], again.json()["created"]) == (first.json()["job"], False)
    assert Job.objects.get().operation == COLLECT_WORKSHOP_CACHE.name
    assert operator_api("POST", "/storage/collect", {"host": "nowhere"}).json() == {
        "detail": "there is no host 'nowhere'"
    }
