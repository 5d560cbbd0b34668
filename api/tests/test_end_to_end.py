"""A script with a token, against a real worker, the private Redis and the stand-in Steam: it
creates an overlay, adds items, waits on the build's state and reads the items' states; the
user's other token may do the same, another user's token may not."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from api.tests.conftest import ApiClient
from jobs.models import Job
from overlays.build import cache_file
from tests.support.fakesteam import FakeSteam
from tests.support.workers import running_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _token(username: str, name: str) -> str:
    out = io.StringIO()
    call_command("api_token", username, "--name", name, stdout=out)
    return out.getvalue().strip()


def _finished(api: ApiClient, job_id: int) -> dict:
    def state():
        body = api("GET", f"/jobs/{job_id}").json()
        return body if body["state"] in Job.FINAL_STATES else None

    return wait_for(state, timeout=60, interval=0.2)


def test_a_script_with_a_token_builds_an_overlay_and_reads_its_items(client, django_user_model, settings):
    django_user_model.objects.create_user("gamer", password="correct horse battery")
    django_user_model.objects.create_user("other", password="correct horse battery")
    script = ApiClient(client, _token("gamer", "discord bot"))
    second, stranger = ApiClient(client, _token("gamer", "ci")), ApiClient(client, _token("other", "x"))
    with FakeSteam() as steam:
        settings.STEAM_API_BASE_URL = steam.base_url
        steam.add_item("8880001", size=120_000)
        steam.add_item("8880002", size=80_000)
        steam.add_item("8880003", size=50_000, file_url="")  # Steam serves no file of it
        with running_worker(concurrency=2):
            created = script("POST", "/overlays", {"name": "vote maps"})
            assert created.status_code == 201, created.content
            overlay = created.json()["id"]
            added = script(
                "POST", f"/overlays/{overlay}/items", {"input": "8880001 8880002 8880003", "mode": "items"}
            )
            assert added.status_code == 202, added.content
            build = _finished(script, added.json()["job"])
            assert build["state"] == "succeeded", build
            assert build["lines"][-1]["text"].startswith("workshop overlay 'vote maps': downloaded=2")

            items = script("GET", f"/overlays/{overlay}/items").json()["items"]
            assert {row["steam_id"]: (row["state"], row["size"], row["pinned"]) for row in items} == {
                "8880001": ("cached", 120_000, False),
                "8880002": ("cached", 80_000, False),
                "8880003": ("skipped", 50_000, False),
            }
            assert cache_file("8880001").read_bytes() == steam.files["8880001"].content()

            # The user's other token acts as the user; another user's is refused, as on the pages.
            pinned = second("POST", f"/overlays/{overlay}/items/8880001/pin")
            assert pinned.status_code == 202, pinned.content
            assert _finished(second, pinned.json()["job"])["state"] == "succeeded"
            assert stranger("GET", f"/overlays/{overlay}").status_code == 403
            assert stranger("POST", f"/overlays/{overlay}/items/8880002/pin").status_code == 403
            assert stranger("GET", f"/jobs/{pinned.json()['job']}").status_code == 403
            assert stranger("GET", "/overlays").json() == []

    rows = {row["steam_id"]: row for row in script("GET", f"/overlays/{overlay}/items").json()["items"]}
    assert (rows["8880001"]["state"], rows["8880001"]["pinned"]) == ("pinned", True)
