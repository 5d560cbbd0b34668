"""Helpers the test suites and benchmarks share: a real Celery worker process and polling."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from tests.support.forked import ForkedWorker

BASE_DIR = Path(settings.BASE_DIR)


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker process that shares this test's settings, database and broker."""
    env = dict(os.environ)
    # The settings module this process loaded (tests.settings under pytest, which adds the
    # test-only tasks), never left4me/celery.py's default. Not settings.SETTINGS_MODULE: inside
    # override_settings (the `settings` fixture) that reads None.
    env["DJANGO_SETTINGS_MODULE"] = os.environ["DJANGO_SETTINGS_MODULE"]
    env["DATABASE_URL"] = database_url()
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env["LEFT4ME_ROOT"] = str(settings.LEFT4ME_ROOT)
    env["STEAM_API_BASE_URL"] = settings.STEAM_API_BASE_URL
    env["WORKSHOP_DOWNLOAD_HOSTS"] = ",".join(settings.WORKSHOP_DOWNLOAD_HOSTS)
    env["LEFT4ME_NOTIFY_PRIVATE_HOSTS"] = ",".join(settings.LEFT4ME_NOTIFY_PRIVATE_HOSTS)
    env["LEFT4ME_NOTIFY_DIGEST_SECONDS"] = str(settings.LEFT4ME_NOTIFY_DIGEST_SECONDS)
    # Django's system checks (the URLconf and the API's schemas imported only for them) are the
    # web's start-up and the check tests'; a worker per test would pay them each time.
    env["CELERY_SKIP_CHECKS"] = "1"
    env.update(extra)
    return env


def database_url() -> str:
    """A URL for the database this process uses now (the test database, under pytest)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = f"{quote(db['USER'])}:{quote(db['PASSWORD'])}@" if db["USER"] else ""
    return f"postgres://{auth}{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(
    *, concurrency: int = 2, queues: str | None = None, gossip: bool = False, **env: str
) -> ForkedWorker:
    """A worker as left4me-worker runs: the shared queue and the housekeeping queue. Without
    gossip and mingle unless `gossip` (the service runs with both: their pub/sub channel changes
    how the worker notices a lost Redis)."""
    queues = queues or f"celery,{settings.LEFT4ME_HOUSEKEEPING_QUEUE}"
    cmd = [
        "-A", "left4me", "worker", "--loglevel", "INFO",
        "--concurrency", str(concurrency), "--queues", queues,
        *([] if gossip else ["--without-gossip", "--without-mingle"]),
        "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
    ]  # fmt: skip
    return ForkedWorker(cmd, cwd=str(BASE_DIR), env=worker_env(**env))


def stop_worker(proc: ForkedWorker | subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def running_worker(**kwargs: object) -> Iterator[ForkedWorker]:
    proc = start_worker(**kwargs)  # type: ignore[arg-type]
    try:
        yield proc
    finally:
        stop_worker(proc)


def wait_for(predicate: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.1) -> object:
    """Poll until `predicate` returns something truthy; fail with a clear message on time-out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {predicate}")
