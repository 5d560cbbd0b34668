"""Settings come from the environment: each is read in a fresh interpreter with its own env (forked
from the suite's fork server, which has imported Django but never read its settings)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from left4me import env as envmod
from tests.support.forked import run_python

BASE_DIR = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "root": str(settings.LEFT4ME_ROOT), "engine": db["ENGINE"], "db_name": str(db["NAME"]),
    "db_host": db.get("HOST"), "broker": settings.CELERY_BROKER_URL, "steam": settings.STEAM_API_BASE_URL,
    "secret": settings.SECRET_KEY, "debug": settings.DEBUG, "hosts": settings.ALLOWED_HOSTS,
    "tz": settings.TIME_ZONE, "celery_tz": settings.CELERY_TIMEZONE,
    "sentry": __import__("sentry_sdk").get_client().is_active() if "sentry_sdk" in __import__("sys").modules else None,
    "sentry_integrations": sorted(__import__("sentry_sdk").get_client().integrations) if "sentry_sdk" in __import__("sys").modules else [],
}))
"""


def read_settings(tmp_path: Path, **env: str) -> dict:
    base = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"}
    }
    base.update({"LEFT4ME_ROOT": str(tmp_path / "root"), "DJANGO_SETTINGS_MODULE": "left4me.settings"})
    base.pop("SENTRY_DSN", None)
    base.update(env)
    out = run_python(PROBE, env=base, cwd=str(BASE_DIR))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_defaults_serve_a_single_host(tmp_path: Path) -> None:
    s = read_settings(tmp_path)
    root = tmp_path / "root"
    assert s["root"] == str(root)
    # django-prometheus' wrapper of Django's own backend, which counts queries for /metrics
    assert s["engine"] == "django_prometheus.db.backends.sqlite3"
    assert s["db_name"] == str(root / "left4me.sqlite3")
    assert s["broker"] == "redis://127.0.0.1:6379/0"
    assert s["steam"] == "https://api.steampowered.com"
    assert s["debug"] is False
    assert "127.0.0.1" in s["hosts"]
    assert s["tz"] == "UTC"
    assert s["sentry"] is None  # without SENTRY_DSN, sentry-sdk is not even loaded


def test_every_variable_is_honoured(tmp_path: Path) -> None:
    s = read_settings(
        tmp_path,
        DATABASE_URL="postgres://l4m:pw@db.internal:5432/left4me",
        CELERY_BROKER_URL="redis://broker.internal:6380/3",
        STEAM_API_BASE_URL="http://127.0.0.1:9999/",
        SECRET_KEY="from-the-environment",
        DEBUG="true",
        ALLOWED_HOSTS="panel.example.org, 10.0.0.5",
        TIME_ZONE="Europe/Berlin",
    )
    assert s["engine"] == "django_prometheus.db.backends.postgresql"
    assert s["db_host"] == "db.internal"
    assert s["broker"] == "redis://broker.internal:6380/3"
    assert s["steam"] == "http://127.0.0.1:9999"
    assert s["secret"] == "from-the-environment"
    assert s["debug"] is True
    assert s["hosts"] == ["panel.example.org", "10.0.0.5"]
    assert s["tz"] == s["celery_tz"] == "Europe/Berlin"


def test_sentry_dsn_reports_django_and_celery_errors(tmp_path: Path) -> None:
    s = read_settings(tmp_path, SENTRY_DSN="https://public@sentry.invalid/1")
    assert s["sentry"] is True
    assert {"django", "celery"} <= set(s["sentry_integrations"])


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = read_settings(tmp_path)["secret"]
    second = read_settings(tmp_path)["secret"]
    assert len(first) >= 50
    assert first == second
    key_file = tmp_path / "root" / "secret_key"
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_secret_differs_between_installs(tmp_path: Path) -> None:
    assert read_settings(tmp_path / "a")["secret"] != read_settings(tmp_path / "b")["secret"]


@pytest.mark.parametrize("raw", ["maybe", "2"])
def test_bad_boolean_fails_loudly(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", raw)
    with pytest.raises(ValueError, match="DEBUG"):
        envmod.env_bool("DEBUG", False)


def test_bad_number_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSHOP_DOWNLOAD_CONCURRENCY", "four")
    with pytest.raises(ValueError, match="not a whole number"):
        envmod.env_int("WORKSHOP_DOWNLOAD_CONCURRENCY", 4)
    monkeypatch.setenv("WORKSHOP_DOWNLOAD_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="at least 1"):
        envmod.env_int("WORKSHOP_DOWNLOAD_CONCURRENCY", 4, minimum=1)


@pytest.mark.parametrize("raw", ["120", "0/min", "ten/min", "5/week"])
def test_bad_api_rate_fails_loudly(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEFT4ME_API_RATE", raw)
    with pytest.raises(ValueError, match="LEFT4ME_API_RATE"):
        envmod.env_rate("LEFT4ME_API_RATE", "120/min")
    monkeypatch.setenv("LEFT4ME_API_RATE", "30/s")
    assert envmod.env_rate("LEFT4ME_API_RATE", "120/min") == "30/s"
