from __future__ import annotations

import pytest

from jobs.models import Job
from overlays.models import OverlayWorkshopItem
from overlays.tasks import refresh_overlay
from tests.support.helpers import T0, item_from_steam
from workshop.models import WorkshopItem
from workshop.services import NO_ENTRY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


@pytest.fixture(autouse=True)
def _slow_heartbeat(settings):
    settings.JOB_HEARTBEAT_SECONDS = 60


def _run(job: Job) -> Job:
    """Run the job's work here, as a worker would."""
    refresh_overlay(job.pk)
    job.refresh_from_db()
    return job


def _job_of(response) -> Job:
    assert response.status_code == 302
    prefix, job_id = response["Location"].rstrip("/").rsplit("/", 1)
    assert prefix == "/jobs"
    return Job.objects.get(pk=int(job_id))


# --- add and remove ----------------------------------------------------------------------


def test_add_route_redirects_to_the_build_job(owner_client, overlay, steam):
    steam.add_item("101", size=16)
    steam.add_item("102", size=16)
    response = owner_client.post(
        f"/overlays/{overlay.pk}/items/", {"input": "101 102", "input_mode": "items"}
    )
    job = _job_of(response)
    assert (job.operation, job.subject_id) == ("build_overlay", overlay.pk)
    assert overlay.workshop_links.count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"input": "hello", "input_mode": "items"}, "not a workshop id or URL: &#x27;hello&#x27;"),
        ({"input": "303", "input_mode": "items"}, "is for another game"),
        ({"input": "1 2 3", "input_mode": "items"}, "too many workshop ids"),
    ],
)
def test_add_route_bad_input_rerenders_with_400(owner_client, overlay, steam, settings, data, message):
    settings.WORKSHOP_MAX_ENTRIES = 2
    steam.add_item("303", size=16, consumer_app_id=730)
    response = owner_client.post(f"/overlays/{overlay.pk}/items/", data)
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert f"<h1>{overlay.name}</h1>" in body
    assert not WorkshopItem.objects.exists() and not Job.objects.exists()


def test_add_route_steam_failure_rerenders_with_400(owner_client, overlay, steam):
    steam.api_statuses = [503] * 10  # more than every attempt
    response = owner_client.post(f"/overlays/{overlay.pk}/items/", {"input": "101", "input_mode": "items"})
    assert response.status_code == 400
    assert "steam api error" in response.content.decode()
    assert not WorkshopItem.objects.exists() and not Job.objects.exists()


def test_remove_route_unlinks_and_redirects_to_the_build(owner_client, overlay, steam):
    steam.add_item("101", size=16)
    item_from_steam(steam, "101", overlay=overlay)
    job = _job_of(owner_client.post(f"/overlays/{overlay.pk}/items/101/delete/"))
    assert job.operation == "build_overlay"
    assert not overlay.workshop_links.exists()


def test_remove_route_of_an_unknown_item_is_400(owner_client, overlay):
    assert owner_client.post(f"/overlays/{overlay.pk}/items/101/delete/").status_code == 400


# --- refresh -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # download threads must see the running job
def test_refresh_route_owner_enqueues_a_refresh_that_updates_and_builds(owner_client, overlay, steam):
    steam.add_item("101", size=16)
    item_from_steam(steam, "101", overlay=overlay)
    steam.add_item("101", size=20, time_updated=T0 + 9, title="Updated")

    job = _job_of(owner_client.post(f"/overlays/{overlay.pk}/refresh/"))

    assert (job.operation, job.state) == ("refresh_overlay", "queued")
    assert _run(job).state == "succeeded"
    item = WorkshopItem.objects.get(steam_id="101")
    assert (item.title, item.file_size, item.time_updated) == ("Updated", 20, T0 + 9)
    assert item.last_downloaded_at is not None
    assert (overlay.addons_path / "101.vpk").is_symlink()


def test_refresh_route_coalesces_with_a_queued_refresh(owner_client, overlay, steam):
    steam.add_item("101", size=16)
    item_from_steam(steam, "101", overlay=overlay)
    first = _job_of(owner_client.post(f"/overlays/{overlay.pk}/refresh/"))
    assert _job_of(owner_client.post(f"/overlays/{overlay.pk}/refresh/")).pk == first.pk


def test_refresh_route_of_an_empty_overlay_is_400(owner_client, overlay, steam):
    response = owner_client.post(f"/overlays/{overlay.pk}/refresh/")
    assert response.status_code == 400
    assert "overlay has no items" in response.content.decode()
    assert not Job.objects.exists()
    assert steam.api_post_count == 0


def test_refresh_route_is_403_for_a_non_owner(client, stranger, overlay, steam):
    steam.add_item("101", size=16)
    item_from_steam(steam, "101", overlay=overlay)
    client.force_login(stranger)
    assert client.post(f"/overlays/{overlay.pk}/refresh/").status_code == 403
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)  # download threads must see the running job
def test_refresh_route_operators_may_refresh_anyones_overlay(client, operator, overlay, steam):
    steam.add_item("101", size=16)
    item_from_steam(steam, "101", overlay=overlay)
    client.force_login(operator)
    job = _job_of(client.post(f"/overlays/{overlay.pk}/refresh/"))
    assert job.user == operator
    assert _run(job).state == "succeeded"


def test_refresh_job_fails_on_steam_error_and_changes_nothing(owner_client, overlay, steam, settings):
    settings.JOB_RETRIES = 0  # a 500 may pass: with retries left the job would wait for one
    steam.add_item("101", size=16)
    item_from_steam(steam, "101", overlay=overlay)
    before = list(WorkshopItem.objects.values())
    job = _job_of(owner_client.post(f"/overlays/{overlay.pk}/refresh/"))
    steam.api_statuses = [500] * 10  # more than every attempt

    job = _run(job)

    assert job.state == "failed"
    assert job.error.startswith("steam api error: ")
    assert job.lines.filter(text__startswith="attempt 1/1 failed (transient): steam api error: ").exists()
    assert job.lines.filter(text__endswith="; no retries left").exists()
    assert list(WorkshopItem.objects.values()) == before
    assert not (overlay.addons_path / "101.vpk").exists()


@pytest.mark.django_db(transaction=True)  # download threads must see the running job
def test_refresh_job_records_last_error_for_a_missing_item(owner_client, overlay, steam):
    steam.add_item("101", size=16)
    item_from_steam(steam, "101", overlay=overlay)
    steam.missing.add("101")
    job = _run(_job_of(owner_client.post(f"/overlays/{overlay.pk}/refresh/")))
    assert WorkshopItem.objects.get(steam_id="101").last_error == NO_ENTRY
    assert OverlayWorkshopItem.objects.filter(overlay=overlay).count() == 1
    assert job.state == "succeeded"
    assert steam.get_count("101") == 0  # not served: skipped, not a failure
