"""GET /healthz: no login, fast, names what failed and never how it is configured."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from django.db.utils import OperationalError
from django.test import Client, override_settings

from left4me import views
from tests.support.workers import running_worker, wait_for

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def _get(client: Client) -> tuple[int, dict[str, str], str, float]:
    started = time.monotonic()
    response = client.get("/healthz")
    return response.status_code, response.json(), response.content.decode(), time.monotonic() - started


def test_healthy_without_login_and_no_worker_is_not_a_failure(client: Client) -> None:
    status, body, _, _ = _get(client)
    assert status == 200
    assert body == {"database": "ok", "broker": "ok", "worker": "none seen", "disk": "ok"}


def test_broker_down_is_503_naming_the_broker_without_its_url(client: Client) -> None:
    port = _closed_port()
    with override_settings(CELERY_BROKER_URL=f"redis://:hunter2@127.0.0.1:{port}/0"):
        status, body, raw, elapsed = _get(client)
    assert status == 503
    assert body == {
        "database": "ok",
        "broker": "error: connection refused",
        "worker": "none seen",
        "disk": "ok",
    }
    assert "hunter2" not in raw and str(port) not in raw and "redis" not in raw
    assert elapsed < 5


def test_broker_that_never_answers_times_out_quickly(client: Client, silent_port: int) -> None:
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{silent_port}/0"):
        status, body, _, elapsed = _get(client)
    assert status == 503
    assert body["broker"] == "error: timed out"
    assert body["database"] == "ok"
    assert elapsed < 5


def test_database_failure_is_503_without_the_error_text(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise OperationalError(
            'connection to server at "db.internal" failed: password authentication for user "bob"'
        )

    monkeypatch.setattr(views, "_check_database", broken)
    status, body, raw, _ = _get(client)
    assert status == 503
    assert body["database"] == "error: OperationalError"
    assert body["broker"] == "ok"
    assert "db.internal" not in raw and "bob" not in raw


def test_plain_http_health_check_is_not_redirected_to_https(client: Client) -> None:
    with override_settings(SECURE_SSL_REDIRECT=True):
        assert client.get("/healthz").status_code == 200
        assert client.get("/accounts/login/").status_code == 301


def test_only_get(client: Client) -> None:
    assert client.post("/healthz").status_code == 405


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_running_worker_is_seen(client: Client) -> None:
    with running_worker(concurrency=1):
        wait_for(lambda: client.get("/healthz").json()["worker"] == "ok", timeout=60, interval=0.5)
        status, body, _, _ = _get(client)
    assert status == 200
    assert body == {"database": "ok", "broker": "ok", "worker": "ok", "disk": "ok"}


def test_a_disk_below_the_minimum_is_reported_low_with_503(client, settings, monkeypatch) -> None:
    from left4me import views

    settings.WORKSHOP_MIN_FREE_BYTES = 10 * 2**30
    monkeypatch.setattr(views, "free_bytes", lambda folder: 2**30)
    response = client.get("/healthz")
    assert (response.status_code, response.json()["disk"]) == (503, "low")
