"""Add, download, link and refresh with a real worker, the private Redis and a fake Steam."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from jobs.models import Job
from left4me.units import human_bytes
from overlays.build import cache_file
from overlays.models import Overlay
from tests.support.fakesteam import FakeSteam
from tests.support.helpers import T0, link_target
from tests.support.workers import running_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ITEMS = {"7770001": 300_000, "7770002": 200_000, "7770011": 150_000, "7770012": 50_000}
COLLECTION = "7770090"


def _finished(client, job_id: int) -> dict:
    def status():
        body = client.get(f"/jobs/{job_id}/status/").json()
        return body if body["state"] in Job.FINAL_STATES else None

    return wait_for(status, timeout=60, interval=0.2)


def _post_for_job(client, url: str, data: dict) -> int:
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:500]
    return int(response["Location"].rstrip("/").rsplit("/", 1)[1])


def _create_overlay(client, name: str) -> Overlay:
    assert client.post("/overlays/", {"name": name}).status_code == 302
    return Overlay.objects.get(name=name)


def _log_in(client, username: str, password: str) -> bool:
    """Through the login page, as a browser does (the throttling backend needs the request)."""
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302 and response["Location"] == "/overlays/"


def _links(overlay: Overlay) -> dict[str, str]:
    return {p.name: link_target(p) for p in overlay.addons_path.iterdir()}


def test_add_download_link_and_refresh(client, django_user_model, settings):
    django_user_model.objects.create_user("gamer", password="correct horse battery")
    with FakeSteam() as steam:
        settings.STEAM_API_BASE_URL = steam.base_url
        for steam_id, size in ITEMS.items():
            steam.add_item(steam_id, size=size)
        steam.add_collection(COLLECTION, ["7770011", "7770012"])
        with running_worker(concurrency=2):
            assert _log_in(client, "gamer", "correct horse battery")
            maps, other = _create_overlay(client, "maps"), _create_overlay(client, "other")

            job_id = _post_for_job(
                client, f"/overlays/{maps.pk}/items/", {"input": "7770001 7770002", "input_mode": "items"}
            )
            assert _finished(client, job_id)["state"] == "succeeded"
            job_id = _post_for_job(
                client, f"/overlays/{maps.pk}/items/", {"input": COLLECTION, "input_mode": "collection"}
            )
            status = _finished(client, job_id)
            assert status["state"] == "succeeded", status
            assert status["lines"][-1]["text"] == (
                "workshop overlay 'maps': downloaded=2 cached=2 skipped=0 failed=0 created=2 removed=0 unchanged=2 conflicts=0"
                f" ({human_bytes(ITEMS['7770011'] + ITEMS['7770012'])} downloaded)"
            )
            assert status["items_text"] == "2 of 2 items done · 2 already cached"
            assert sorted((row["key"], row["state"], row["percent"]) for row in status["items"]) == [
                ("7770011", "done", 100),
                ("7770012", "done", 100),
            ]
            assert (
                status["title"] == f"Build 'maps' · followed collection {steam.details[COLLECTION]['title']}"
            )
            job_id = _post_for_job(
                client, f"/overlays/{other.pk}/items/", {"input": "7770002", "input_mode": "items"}
            )
            assert _finished(client, job_id)["state"] == "succeeded"

            for steam_id in ITEMS:
                assert cache_file(steam_id).read_bytes() == steam.files[steam_id].content()
                assert steam.get_count(steam_id) == 1
            assert _links(maps) == {f"{sid}.vpk": str(cache_file(sid)) for sid in ITEMS}
            assert _links(other) == {"7770002.vpk": str(cache_file("7770002"))}

            steam.reset_counters()
            new = steam.add_item("7770001", size=320_000, time_updated=T0 + 3600)
            last_job = Job.objects.order_by("-id").first().pk
            out = io.StringIO()
            call_command("workshop_refresh", "--wait", stdout=out, stderr=out)
            assert "enqueued refresh_workshop_items job" in out.getvalue()
            assert "succeeded" in out.getvalue().splitlines()[-1]

            builds = Job.objects.filter(pk__gt=last_job, operation="build_overlay")
            assert [b.subject_id for b in builds] == [maps.pk]
            # A scheduled build belongs to no user: its owner's status page is not the place to poll it.
            build = wait_for(lambda: Job.objects.filter(pk=builds[0].pk, state__in=Job.FINAL_STATES).first())
            assert build.state == "succeeded", build.error

    assert cache_file("7770001").read_bytes() == new.content()
    assert {sid: steam.get_count(sid) for sid in ITEMS} == {
        "7770001": 1,
        "7770002": 0,
        "7770011": 0,
        "7770012": 0,
    }
    assert _links(maps)["7770001.vpk"] == str(cache_file("7770001"))


def test_deleting_an_overlay_while_it_builds_leaves_no_folder_and_no_links(
    client, django_user_model, settings
):
    django_user_model.objects.create_user("gamer", password="correct horse battery")
    with FakeSteam() as steam:
        settings.STEAM_API_BASE_URL = steam.base_url
        steam.add_item("7780001", size=4_000_000, rate_limit=500_000)  # about 8 s to download
        with running_worker(concurrency=2):
            assert _log_in(client, "gamer", "correct horse battery")
            doomed = _create_overlay(client, "doomed")
            (doomed.addons_path / "readme.txt").write_text("the operator's own note")
            build_id = _post_for_job(client, f"/overlays/{doomed.pk}/items/", {"input": "7780001"})
            wait_for(lambda: client.get(f"/jobs/{build_id}/status/").json()["progress"]["bytes_done"] > 0)

            response = client.post(
                f"/overlays/{doomed.pk}/delete/", {"confirm_name": doomed.name}, follow=True
            )

            assert response.status_code == 200
            assert f'href="/overlays/{doomed.pk}/"' not in response.content.decode()
            assert client.get(f"/overlays/{doomed.pk}/").status_code == 404
            delete = Job.objects.get(operation="delete_overlay")
            wait_for(lambda: Job.objects.get(pk=delete.pk).state in Job.FINAL_STATES, timeout=60)
            assert Job.objects.get(pk=build_id).state == "cancelled"
            assert Job.objects.get(pk=delete.pk).state == "succeeded"
    assert not Overlay.objects.filter(pk=doomed.pk).exists()
    assert [p.name for p in doomed.path.rglob("*")] == ["left4dead2", "addons", "readme.txt"]
    assert not any(p.is_symlink() for p in doomed.path.rglob("*"))
