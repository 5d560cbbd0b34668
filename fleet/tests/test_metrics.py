"""/metrics: who may read it, what left4me's numbers say, that what other processes counted
reaches it through the database, and its cost at scale."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
import responses
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from fleet.metrics import items_count
from fleet.operations import REFRESH_WORKSHOP_ITEMS
from jobs.models import Job
from jobs.services import job_finish
from left4me import counters
from left4me.celery import app
from left4me.models import Counter, Host
from overlays.models import Overlay, OverlayWorkshopItem
from workshop.models import WorkshopItem
from workshop.steam import SteamAPIError, fetch_metadata_batch

pytestmark = pytest.mark.django_db

DETAILS_URL = "https://steam.test/ISteamRemoteStorage/GetPublishedFileDetails/v1/"


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def _scrape(
    client: Client | None = None, **extra: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return _samples(response.content)


# --- who may read it -----------------------------------------------------------------------------


def test_loopback_may_read_and_other_addresses_get_403(settings):
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 403


def test_allowed_networks_and_the_bearer_token(settings):
    settings.LEFT4ME_METRICS_ALLOW = [ipaddress.ip_network("10.1.0.0/16")]
    settings.LEFT4ME_METRICS_TOKEN = "s3cret-scrape-token"
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="s3cret-scrape-token-x").status_code == 403
    settings.LEFT4ME_METRICS_TOKEN = ""
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_a_bad_allow_list_fails_loudly(monkeypatch):
    from left4me.env import env_networks

    monkeypatch.setenv("LEFT4ME_METRICS_ALLOW", "127.0.0.1, 10.0.0.0/8, fd00::/8")
    assert [str(n) for n in env_networks("LEFT4ME_METRICS_ALLOW", [])] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "fd00::/8",
    ]
    monkeypatch.setenv("LEFT4ME_METRICS_ALLOW", "127.0.0.1, intranet")
    with pytest.raises(ValueError, match="'intranet' is not an address or a network"):
        env_networks("LEFT4ME_METRICS_ALLOW", [])


# --- what it says ---------------------------------------------------------------------------------


def test_left4me_numbers(overlay):
    now = timezone.now()
    Host.objects.filter(name="local").update(
        cache_bytes=5000, free_bytes=7000, total_bytes=9000, last_seen_at=now
    )
    Host.objects.create(name="far", last_seen_at=now - timedelta(hours=1))
    far_overlay = Overlay.objects.create(
        owner=overlay.owner, name="far one", host=Host.objects.get(name="far")
    )
    for n, (target, fields) in enumerate(
        [
            (overlay, {"cached_version": 10, "time_updated": 10}),  # cached
            (overlay, {"cached_version": 10, "time_updated": 10}),
            (overlay, {"last_error": "download failed: HTTP 404"}),  # failed
            (far_overlay, {}),  # waiting
        ]
    ):
        item = WorkshopItem.objects.create(steam_id=str(100 + n), file_url="https://cdn/x", **fields)
        OverlayWorkshopItem.objects.create(overlay=target, item=item)
    for seconds in (2, 40, 40):
        started = now - timedelta(seconds=seconds)
        job = Job.objects.create(operation="build_overlay", state="running", started_at=started)
        job_finish(job_id=job.pk, started_at=started, state="succeeded")
    counters.counters_flush()  # as the worker does when its task ends
    Job.objects.create(operation="build_overlay", state="queued")
    refreshed = now - timedelta(hours=3)
    Job.objects.create(
        operation=REFRESH_WORKSHOP_ITEMS.name, state="succeeded", started_at=refreshed, finished_at=refreshed
    )
    Job.objects.create(operation=REFRESH_WORKSHOP_ITEMS.name, state="failed", started_at=now, finished_at=now)
    # Another host's worker ran a build of 10 minutes.
    Counter.objects.bulk_create(
        Counter(host="far", name=f"{name}:build_overlay", value=value)
        for name, value in (
            ("job_le_900", 1),
            ("job_le_3600", 1),
            ("job_le_14400", 1),
            ("job_runs", 1),
            ("job_ms", 600_000),
        )
    )

    items_count()
    got = _scrape()

    assert got[("left4me_items", (("host", "local"), ("state", "cached")))] == 2
    assert got[("left4me_items", (("host", "local"), ("state", "failed")))] == 1
    assert got[("left4me_items", (("host", "far"), ("state", "waiting")))] == 1
    assert got[("left4me_host_cache_bytes", (("host", "local"),))] == 5000
    assert got[("left4me_host_free_bytes", (("host", "local"),))] == 7000
    assert got[("left4me_host_up", (("host", "local"),))] == 1
    assert got[("left4me_host_up", (("host", "far"),))] == 0
    assert got[("left4me_host_last_report_timestamp_seconds", (("host", "local"),))] == pytest.approx(
        now.timestamp()
    )
    assert got[("left4me_jobs", (("operation", "build_overlay"), ("state", "succeeded")))] == 3
    assert got[("left4me_jobs", (("operation", "build_overlay"), ("state", "queued")))] == 1
    build = (("operation", "build_overlay"),)
    assert got[("left4me_job_duration_seconds_bucket", (("le", "1.0"), *build))] == 0
    assert got[("left4me_job_duration_seconds_bucket", (("le", "5.0"), *build))] == 1
    assert got[("left4me_job_duration_seconds_bucket", (("le", "60.0"), *build))] == 3
    assert got[("left4me_job_duration_seconds_bucket", (("le", "900.0"), *build))] == 4
    assert got[("left4me_job_duration_seconds_bucket", (("le", "+Inf"), *build))] == 4
    assert got[("left4me_job_duration_seconds_count", build)] == 4
    assert got[("left4me_job_duration_seconds_sum", build)] == pytest.approx(682, abs=1)
    assert got[("left4me_daily_refresh_last_success_timestamp_seconds", ())] == pytest.approx(
        refreshed.timestamp()
    )
    # django-prometheus' own numbers ride along.
    assert any(name == "django_http_requests_before_middlewares_total" for name, _ in got)


def test_a_fleet_that_never_refreshed_says_0():
    assert _scrape()[("left4me_daily_refresh_last_success_timestamp_seconds", ())] == 0


@responses.activate
def test_steam_calls_failures_and_retries_are_counted_and_stored_for_every_process(settings):
    settings.STEAM_API_BASE_URL = "https://steam.test"
    settings.STEAM_API_ATTEMPTS = 2
    settings.WORKSHOP_RETRY_BACKOFF = 0.001
    settings.WORKSHOP_RETRY_BACKOFF_MAX = 0.001
    responses.add(responses.POST, DETAILS_URL, status=502)
    responses.add(responses.POST, DETAILS_URL, json={"response": {"publishedfiledetails": []}})
    responses.add(responses.POST, DETAILS_URL, status=502)
    responses.add(responses.POST, DETAILS_URL, status=502)
    fetch_metadata_batch(["101"])
    with pytest.raises(SteamAPIError):
        fetch_metadata_batch(["101"])
    assert Counter.objects.count() == 0  # counted in memory until the flush

    counters.counters_flush()
    # Another host's worker stored its own.
    Counter.objects.create(host="far", name=counters.STEAM_API_CALLS, value=7)
    counters.count(counters.STEAM_API_CALLS)
    counters.counters_flush()

    got = _scrape()
    assert len(responses.calls) == 4
    assert got[("left4me_steam_api_calls_total", (("host", "local"),))] == 3
    assert got[("left4me_steam_api_retries_total", (("host", "local"),))] == 2
    assert got[("left4me_steam_api_failures_total", (("host", "local"),))] == 1
    assert got[("left4me_steam_api_calls_total", (("host", "far"),))] == 7


def test_downloaded_bytes_are_counted_and_a_request_stores_its_counts(steam, tmp_path):
    from workshop.downloads import download_with_retry
    from workshop.steam import WorkshopMetadata

    steam.add_item("101", size=123_457, time_updated=1_700_000_000)
    meta = WorkshopMetadata(
        steam_id="101",
        file_url=steam.details["101"]["file_url"],
        file_size=123_457,
        time_updated=1_700_000_000,
        consumer_app_id=550,
        result=1,
    )
    assert download_with_retry(meta, tmp_path / "cache") is True
    assert counters.pending() == {counters.DOWNLOADED_BYTES: 123_457}

    Client(REMOTE_ADDR="203.0.113.9").get("/metrics")  # any request stores them as it ends

    assert counters.pending() == {}
    assert _scrape()[("left4me_downloaded_bytes_total", (("host", "local"),))] == 123_457


def test_a_busy_database_keeps_the_counts_for_the_next_flush(monkeypatch):
    from django.db import OperationalError

    def busy(*args, **kwargs):
        raise OperationalError("database is locked")

    counters.count(counters.STEAM_API_CALLS, 3)
    monkeypatch.setattr(counters, "_add", busy)
    counters.counters_flush()
    assert counters.pending() == {counters.STEAM_API_CALLS: 3}
    monkeypatch.undo()
    counters.counters_flush()
    assert Counter.objects.get(name=counters.STEAM_API_CALLS).value == 3


def test_a_scrape_shows_the_last_count_of_the_periodic_task(overlay):
    waiting = ("left4me_items", (("host", "local"), ("state", "waiting")))
    counted_at = ("left4me_items_counted_timestamp_seconds", (("host", "local"),))
    assert waiting not in _scrape() and counted_at not in _scrape()  # not counted yet

    first = WorkshopItem.objects.create(steam_id="101", file_url="https://cdn/x")
    OverlayWorkshopItem.objects.create(overlay=overlay, item=first)
    app.tasks["fleet.count_items"]()
    got = _scrape()
    assert got[waiting] == 1 and abs(got[counted_at] - timezone.now().timestamp()) < 60

    second = WorkshopItem.objects.create(steam_id="102", file_url="https://cdn/x")
    OverlayWorkshopItem.objects.create(overlay=overlay, item=second)
    assert _scrape()[waiting] == 1  # the scrape never scans the links
    app.tasks["fleet.count_items"]()
    assert _scrape()[waiting] == 2


def test_the_count_is_scheduled_on_the_housekeeping_queue(settings):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="fleet.count_items")
    assert task.enabled and task.interval.every == 60 and task.interval.period == "seconds"
    assert settings.CELERY_TASK_ROUTES["fleet.count_items"] == {"queue": settings.LEFT4ME_HOUSEKEEPING_QUEUE}


# --- cost -----------------------------------------------------------------------------------------


def test_at_scale_a_scrape_costs_a_bounded_number_of_queries(overlay, django_assert_max_num_queries):
    Host.objects.bulk_create(Host(name=f"h{n}") for n in range(20))
    items = WorkshopItem.objects.bulk_create(
        WorkshopItem(steam_id=str(500_000 + n), file_size=n, cached_version=n % 3) for n in range(3000)
    )
    OverlayWorkshopItem.objects.bulk_create(OverlayWorkshopItem(overlay=overlay, item=item) for item in items)
    now = timezone.now()
    Job.objects.bulk_create(
        Job(operation=f"op{n % 7}", state="succeeded", started_at=now, finished_at=now) for n in range(500)
    )
    Counter.objects.bulk_create(
        Counter(host=f"h{n}", name=counters.STEAM_API_CALLS, value=n) for n in range(20)
    )

    items_count()
    with django_assert_max_num_queries(15):
        got = _scrape()

    assert sum(v for (name, _), v in got.items() if name == "left4me_items") == 3000
