"""A worker's own host: registered when it starts, reported on while it runs (free space, cache
size), so the Storage page and /healthz can show every host of the fleet."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from left4me.disk import disk_space
from left4me.models import Host

logger = logging.getLogger(__name__)


def host_register() -> Host:
    """This machine's Host (LEFT4ME_HOST), made or updated with the queue its worker consumes and
    its data folder, then a first report."""
    if settings.LEFT4ME_HOST != "local" and settings.LEFT4ME_WORKER_QUEUE == "celery":
        logger.warning(
            "host %s is on the shared queue 'celery': any worker takes its jobs; "
            "set LEFT4ME_WORKER_QUEUE=host-%s (install.sh --host-name does)",
            settings.LEFT4ME_HOST,
            settings.LEFT4ME_HOST,
        )
    host, _created = Host.objects.update_or_create(
        name=settings.LEFT4ME_HOST,
        defaults={"queue": settings.LEFT4ME_WORKER_QUEUE, "root": str(settings.LEFT4ME_ROOT)},
    )
    host_report()
    return host


def host_report() -> bool:
    """Write this host's free space, cache size and health, and that it was seen now; False when
    it has no row (yet)."""
    cache = Path(settings.WORKSHOP_CACHE_ROOT)
    free: int | None
    total: int | None
    try:
        free, total = disk_space(cache)
        health = "ok" if free >= settings.WORKSHOP_MIN_FREE_BYTES else "disk low"
    except OSError as exc:
        free = total = None
        health = f"disk error: {exc.strerror or type(exc).__name__}"
    return bool(
        Host.objects.filter(name=settings.LEFT4ME_HOST).update(
            free_bytes=free,
            total_bytes=total,
            cache_bytes=folder_bytes(cache),
            health=health,
            last_seen_at=timezone.now(),
        )
    )


def host_report_safely() -> None:
    """host_report from the heartbeat thread: a database hiccup is logged, never raised."""
    try:
        close_old_connections()
        if not host_report():
            host_register()
    except Exception:
        logger.warning("host report of %s not written", settings.LEFT4ME_HOST, exc_info=True)
        connection.close()


def folder_bytes(folder: Path) -> int:
    """Bytes the regular files under `folder` hold, each file once however many hard links it has."""
    sizes: dict[tuple[int, int], int] = {}
    for parent, _dirs, names in os.walk(folder):
        for name in names:
            try:
                stat = os.lstat(os.path.join(parent, name))
            except FileNotFoundError:
                continue
            sizes[(stat.st_dev, stat.st_ino)] = stat.st_size
    return sum(sizes.values())
