"""GET /healthz: no login, fast, names what failed (to this host and operators only) and never
how it is configured."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db.utils import OperationalError
from django.test import Client, override_settings

from left4me import health
from left4me.health import Health, HealthCache, health_cache, heartbeat_ages, heartbeat_write
from tests.support.workers import running_worker, wait_for

pytestmark = pytest.mark.django_db

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def no_heartbeats() -> Iterator[None]:
    """No heartbeat left by a worker of another test (a killed one leaves its key to expire)."""

    def clear() -> None:
        client = health.redis_client()
        for key in client.scan_iter(match=health.HEARTBEAT_PREFIX + "*"):
            client.delete(key)

    clear()
    health_cache.clear()
    yield
    clear()
    health_cache.clear()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def _get(client: Client, **extra: str) -> tuple[int, dict[str, Any], str, float]:
    started = time.monotonic()
    response = client.get("/healthz", **extra)  # type: ignore[arg-type]
    return response.status_code, response.json(), response.content.decode(), time.monotonic() - started


OK_DETAIL = {
    "status": "ok",
    "database": "ok",
    "broker": "ok",
    "worker": "none seen",
    "workers": {},
    "disk": "ok",
    "hosts": {},  # the default host is made on first use
}


def test_healthy_from_this_host_with_detail_and_no_worker_is_not_a_failure(client: Client) -> None:
    status, body, _, _ = _get(client)
    assert status == 200
    assert body == OK_DETAIL


def test_anonymous_remote_callers_get_only_the_status_word(client: Client, settings: Any) -> None:
    assert _get(client, **REMOTE)[:2] == (200, {"status": "ok"})
    settings.WORKSHOP_MIN_FREE_BYTES = 2**62
    assert _get(client, **REMOTE)[:2] == (503, {"status": "degraded"})


def test_behind_the_proxy_the_forwarded_address_decides(client: Client, settings: Any) -> None:
    """nginx on this host reaches gunicorn from 127.0.0.1: the address nginx saw is what counts."""
    settings.SECURE_COOKIES = True
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "127.0.0.1, 203.0.113.9"}
    assert _get(client, **forwarded)[1] == {"status": "ok"}
    assert _get(client, **{"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "::1"})[1] == OK_DETAIL


def test_staff_without_the_permission_get_the_word_operators_the_detail(
    client: Client, staff: Any, operator: Any
) -> None:
    client.force_login(staff)
    assert _get(client, **REMOTE)[1] == {"status": "ok"}
    client.force_login(operator)
    assert _get(client, **REMOTE)[1] == OK_DETAIL


def test_broker_down_is_degraded_503_naming_the_broker_without_its_url(client: Client) -> None:
    port = _closed_port()
    with override_settings(CELERY_BROKER_URL=f"redis://:hunter2@127.0.0.1:{port}/0"):
        status, body, raw, elapsed = _get(client)
        assert _get(client, **REMOTE)[:2] == (503, {"status": "degraded"})
    assert status == 503
    assert body == OK_DETAIL | {"status": "degraded", "broker": "error: connection refused"}
    assert "hunter2" not in raw and str(port) not in raw and "redis" not in raw
    assert elapsed < 5


def test_broker_that_never_answers_times_out_quickly(client: Client, silent_port: int) -> None:
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{silent_port}/0"):
        status, body, _, elapsed = _get(client)
    assert status == 503
    assert body["broker"] == "error: timed out"
    assert body["database"] == "ok"
    assert elapsed < 5


def test_database_failure_is_down_503_without_the_error_text(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise OperationalError(
            'connection to server at "db.internal" failed: password authentication for user "bob"'
        )

    monkeypatch.setattr(health, "_check_database", broken)
    status, body, raw, _ = _get(client)
    assert (status, body["status"]) == (503, "down")
    assert body["database"] == "error: OperationalError"
    assert body["broker"] == "ok"
    assert "db.internal" not in raw and "bob" not in raw
    assert _get(client, **REMOTE)[:2] == (503, {"status": "down"})


def test_plain_http_health_check_is_not_redirected_to_https(client: Client) -> None:
    with override_settings(SECURE_SSL_REDIRECT=True):
        assert client.get("/healthz").status_code == 200
        assert client.get("/accounts/login/").status_code == 301


def test_only_get(client: Client) -> None:
    assert client.post("/healthz").status_code == 405


def test_a_disk_below_the_minimum_is_reported_low_with_503(client, settings, monkeypatch) -> None:
    settings.WORKSHOP_MIN_FREE_BYTES = 10 * 2**30
    monkeypatch.setattr(health, "free_bytes", lambda folder: 2**30)
    response = client.get("/healthz")
    assert (response.status_code, response.json()["disk"], response.json()["status"]) == (
        503,
        "low",
        "degraded",
    )


# --- heartbeats ---------------------------------------------------------------------------


def test_a_heartbeat_is_seen_with_its_age_and_expires_after_three_beats(client: Client, settings) -> None:
    settings.LEFT4ME_WORKER_HEARTBEAT_SECONDS = 0.1
    heartbeat_write("celery@web1")
    time.sleep(0.05)
    ages = heartbeat_ages()
    assert list(ages) == ["celery@web1"] and 0.02 <= ages["celery@web1"] < 0.3
    body = _get(client)[1]
    assert (body["worker"], list(body["workers"])) == ("ok", ["celery@web1"])
    wait_for(lambda: not heartbeat_ages(), timeout=2, interval=0.05)  # lifetime 0.3 s
    assert _get(client)[1]["worker"] == "none seen"


def test_a_key_without_expiry_is_not_a_heartbeat() -> None:
    health.redis_client().set(health.HEARTBEAT_PREFIX + "odd", "1")
    assert heartbeat_ages() == {}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_running_worker_is_seen_at_once_and_gone_when_it_stops(client: Client) -> None:
    with running_worker(concurrency=1):
        wait_for(lambda: client.get("/healthz").json()["worker"] == "ok", timeout=60, interval=0.2)
        status, body, _, elapsed = _get(client)
        assert status == 200 and elapsed < 0.5
        assert body["workers"] and all(age < 15 for age in body["workers"].values())
    assert _get(client)[1]["worker"] == "none seen"  # a stopping worker removes its key


# --- the cache ----------------------------------------------------------------------------


def _report(n: int) -> Health:
    return Health(database="ok", broker="ok", disk="ok", workers={f"w{n}": 0.0})


def test_the_cache_computes_once_per_interval(settings) -> None:
    settings.LEFT4ME_HEALTH_CACHE_SECONDS = 0.2
    calls: list[int] = []
    cache = HealthCache(lambda: (calls.append(1), _report(len(calls)))[1])
    assert cache.get() is cache.get()
    assert len(calls) == 1
    time.sleep(0.25)
    assert cache.get().workers == {"w2": 0.0}


def test_callers_during_a_slow_check_get_the_previous_report_at_once(settings) -> None:
    settings.LEFT4ME_HEALTH_CACHE_SECONDS = 0.0
    release = threading.Event()
    calls: list[int] = []

    def compute() -> Health:
        calls.append(1)
        if len(calls) == 2:
            release.wait(5)
        return _report(len(calls))

    cache = HealthCache(compute)
    first = cache.get()
    slow = threading.Thread(target=cache.get)
    slow.start()
    wait_for(lambda: len(calls) == 2, timeout=2, interval=0.01)
    started = time.monotonic()
    answers = [cache.get() for _ in range(20)]
    assert time.monotonic() - started < 0.5
    assert all(answer is first for answer in answers) and len(calls) == 2
    release.set()
    slow.join(5)
    assert cache.get().workers == {"w3": 0.0}


def test_the_first_callers_wait_for_one_computation(settings) -> None:
    settings.LEFT4ME_HEALTH_CACHE_SECONDS = 60.0
    calls: list[int] = []

    def compute() -> Health:
        calls.append(1)
        time.sleep(0.1)
        return _report(1)

    cache = HealthCache(compute)
    results: list[Health] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(results) == 8 and len(calls) == 1


def test_the_operators_group_reads_the_detail(client: Client, owner: Any) -> None:
    owner.groups.add(Group.objects.get(name="Operators"))
    client.force_login(owner)
    assert _get(client, **REMOTE)[1] == OK_DETAIL


def test_a_request_without_a_session_is_answered_before_sessions_and_login_checks(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.contrib.sessions.middleware import SessionMiddleware

    def no_session(*args: object) -> None:
        raise AssertionError("the session middleware ran")

    monkeypatch.setattr(SessionMiddleware, "process_request", no_session)
    response = client.get("/healthz", **REMOTE)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert "no-cache" in response["Cache-Control"]


def test_every_host_is_shown_and_a_silent_one_is_down(client: Client, settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from left4me.models import Host

    settings.LEFT4ME_HOST_DOWN_AFTER_SECONDS = 60
    now = timezone.now()
    Host.objects.create(name="gs1", last_seen_at=now, free_bytes=5 * 2**30, cache_bytes=123, health="ok")
    Host.objects.create(name="gs2", last_seen_at=now - timedelta(seconds=61), free_bytes=1, cache_bytes=2)

    status, body, _, _ = _get(client)

    assert status == 503 and body["status"] == "degraded"
    assert body["hosts"]["gs1"] == {
        "state": "ok",
        "seen": body["hosts"]["gs1"]["seen"],
        "free_bytes": 5 * 2**30,
        "cache_bytes": 123,
    }
    assert body["hosts"]["gs1"]["seen"] < 5
    assert body["hosts"]["gs2"]["state"] == "down" and body["hosts"]["gs2"]["seen"] >= 61
    assert _get(client, **REMOTE)[:2] == (503, {"status": "degraded"})
