"""What /healthz reports: the database, Redis (the broker), the workers' heartbeats and the disk.

Workers say they are alive themselves: each one, while connected to the broker, writes a key
in Redis every LEFT4ME_WORKER_HEARTBEAT_SECONDS that expires after three of those intervals
(`WorkerHeartbeat`). The health check only reads those keys, so it never broadcasts to the
workers nor waits for their replies. Its answer is computed at most once per
LEFT4ME_HEALTH_CACHE_SECONDS in each web process (`HealthCache`).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import bootsteps
from django.conf import settings
from django.db import connection

from left4me.disk import free_bytes

logger = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "left4me:worker-heartbeat:"
# A worker is seen while its key lives: three beats, so one late or lost write does not hide it.
HEARTBEAT_LIFETIME_BEATS = 3
# Each probe gives up quickly: a health check that hangs is worse than one that says "error".
REDIS_TIMEOUT = 2.0


@functools.lru_cache(maxsize=4)
def _redis_at(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)


def redis_client() -> redis.Redis:
    """One pooled client per broker URL and process (the broker is Redis)."""
    return _redis_at(settings.CELERY_BROKER_URL)


# --- heartbeats ---------------------------------------------------------------------------


def heartbeat_write(hostname: str) -> None:
    """Say `hostname` is alive. The key holds its own lifetime (ms), so its age is that minus
    the time left to live: Redis's clock alone, whatever the clocks of the hosts say."""
    lifetime_ms = max(1, int(settings.LEFT4ME_WORKER_HEARTBEAT_SECONDS * HEARTBEAT_LIFETIME_BEATS * 1000))
    redis_client().set(HEARTBEAT_PREFIX + hostname, lifetime_ms, px=lifetime_ms)


def heartbeat_clear(hostname: str) -> None:
    redis_client().delete(HEARTBEAT_PREFIX + hostname)


def heartbeat_ages() -> dict[str, float]:
    """Worker hostname -> seconds since its last heartbeat, for every worker seen lately."""
    client = redis_client()
    keys = sorted(client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=100))
    if not keys:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
        pipe.pttl(key)
    answers = pipe.execute()
    ages: dict[str, float] = {}
    for key, lifetime, left in zip(keys, answers[::2], answers[1::2], strict=True):
        if lifetime is not None and left >= 0:  # gone or without expiry meanwhile: not a heartbeat
            ages[key.decode()[len(HEARTBEAT_PREFIX) :]] = max(0.0, (int(lifetime) - left) / 1000)
    return ages


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A consumer step of the Celery worker: while the worker is connected and consuming, a
    thread writes its heartbeat; stopping (a lost connection, a shutdown) removes it."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self, parent: Any) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._beat, args=(parent.hostname,), name="left4me-heartbeat", daemon=True
        )
        self._thread.start()

    def stop(self, parent: Any) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout=REDIS_TIMEOUT * 2)
        self._thread = None
        try:
            heartbeat_clear(parent.hostname)
        except redis.RedisError:
            logger.warning("could not remove the heartbeat of %s", parent.hostname, exc_info=True)

    shutdown = stop

    def _beat(self, hostname: str) -> None:
        reported_at = float("-inf")
        while not self._stopping.is_set():
            try:
                heartbeat_write(hostname)
            except redis.RedisError:
                logger.warning("heartbeat of %s not written", hostname, exc_info=True)
            if self.reports_host and time.monotonic() - reported_at >= settings.LEFT4ME_HOST_REPORT_SECONDS:
                from left4me.hosts import host_report_safely  # models: only once Django is set up

                host_report_safely()
                reported_at = time.monotonic()
            self._stopping.wait(
                min(settings.LEFT4ME_WORKER_HEARTBEAT_SECONDS, settings.LEFT4ME_HOST_REPORT_SECONDS)
            )

    # A job worker (one consuming its host's queue) reports on its host; set when it starts.
    reports_host = False


# --- the report ---------------------------------------------------------------------------

OK = "ok"
NONE_SEEN = "none seen"


@dataclass(frozen=True)
class Health:
    """One health check's findings; each part is "ok" or says what is wrong."""

    database: str
    broker: str
    disk: str
    workers: dict[str, float] = field(default_factory=dict)
    hosts: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """ "down": nothing works without the database; "degraded": pages work but jobs cannot
        (no broker), builds fail (disk low) or a host that reported before went silent (its jobs
        wait). No worker seen is not a failure: jobs wait."""
        if self.database != OK:
            return "down"
        if self.broker != OK or self.disk != OK or any(h["state"] == "down" for h in self.hosts.values()):
            return "degraded"
        return OK

    @property
    def http_status(self) -> int:
        return 200 if self.status == OK else 503

    def summary(self) -> dict[str, str]:
        return {"status": self.status}

    def detail(self) -> dict[str, object]:
        ages = {name: round(age, 1) for name, age in self.workers.items()}
        return {
            "status": self.status,
            "database": self.database,
            "broker": self.broker,
            "worker": OK if ages else NONE_SEEN,
            "workers": ages,
            "disk": self.disk,
            "hosts": self.hosts,
        }


def health_check() -> Health:
    """Probe everything now (a few milliseconds when all answer; REDIS_TIMEOUT at most)."""
    database = _probe("database", _check_database)
    broker = _probe("broker", _check_broker)
    workers = _workers() if broker == OK else {}
    hosts = _hosts() if database == OK else {}
    return Health(database=database, broker=broker, disk=_disk_status(), workers=workers, hosts=hosts)


def _probe(name: str, check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as exc:
        logger.warning("healthz: %s check failed", name, exc_info=True)
        return f"error: {_describe(exc)}"
    return OK


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    redis_client().ping()


def _workers() -> dict[str, float]:
    try:
        return heartbeat_ages()
    except redis.RedisError:
        logger.warning("healthz: heartbeats not read", exc_info=True)
        return {}


def _hosts() -> dict[str, dict[str, object]]:
    """Each host as its worker last reported it: state (ok, disk low, down, never seen), seconds
    since that report, free bytes of its cache's file system, bytes its cache holds."""
    from left4me.models import Host  # the app registry is ready by the time /healthz is asked

    try:
        hosts = list(Host.objects.all())
    except Exception:
        logger.warning("healthz: hosts not read", exc_info=True)
        return {}
    now = time.time()
    return {
        host.name: {
            "state": host.status,
            "seen": round(now - host.last_seen_at.timestamp(), 1) if host.last_seen_at else None,
            "free_bytes": host.free_bytes,
            "cache_bytes": host.cache_bytes,
        }
        for host in hosts
    }


def _disk_status() -> str:
    """ "low" when the workshop cache's file system has less than WORKSHOP_MIN_FREE_BYTES free."""
    try:
        free = free_bytes(settings.WORKSHOP_CACHE_ROOT)
    except OSError as exc:
        return f"error: {_describe(exc)}"
    return OK if free >= settings.WORKSHOP_MIN_FREE_BYTES else "low"


def _describe(exc: BaseException) -> str:
    """Why a check failed, without its message: messages can carry host names, users, URLs."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno).lower()
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            return "timed out"
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


class HealthCache:
    """The latest report of one process, recomputed when older than LEFT4ME_HEALTH_CACHE_SECONDS.

    One computation at a time: a caller that finds it under way gets the previous report at
    once (only the very first callers wait for the first one), so a crowd of pollers costs one
    check per interval and never piles up behind a slow probe.
    """

    def __init__(self, compute: Callable[[], Health] = health_check) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._report: Health | None = None
        self._taken_at = 0.0

    def get(self) -> Health:
        report = self._fresh()
        if report is not None:
            return report
        previous = self._report
        if not self._lock.acquire(blocking=previous is None):
            assert previous is not None  # only a caller with a previous report does not wait
            return previous
        try:
            report = self._fresh()
            if report is None:
                report = self._compute()
                self._report, self._taken_at = report, time.monotonic()
            return report
        finally:
            self._lock.release()

    def clear(self) -> None:
        with self._lock:
            self._report = None

    def _fresh(self) -> Health | None:
        report = self._report
        if report is not None and time.monotonic() - self._taken_at < settings.LEFT4ME_HEALTH_CACHE_SECONDS:
            return report
        return None


health_cache = HealthCache()
