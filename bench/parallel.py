"""Parallel downloads: 8 items x 128 MiB from a server limited to 20 MB/s per connection.

One overlay build, run by a real Celery worker, once with WORKSHOP_DOWNLOAD_CONCURRENCY=1 and
once with the default concurrency (the cache is emptied between the two); the figure is the
ratio of the wall times. At 20 MB/s one at a time takes ~54 s, so the whole run takes ~70 s.

    .venv/bin/python bench/parallel.py
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import _harness as h

if TYPE_CHECKING:
    from overlays.models import Overlay

ITEMS = int(os.environ.get("BENCH_PARALLEL_ITEMS", "8"))
SIZE = int(os.environ.get("BENCH_PARALLEL_MIB", "128")) * h.MiB
RATE = 20_000_000  # bytes/s per connection


def build_seconds(overlay: Overlay, concurrency: int | None) -> tuple[float, float]:
    """(job seconds started -> finished, seconds from the first download start to the last end)."""
    from django.conf import settings

    from jobs.models import Job
    from overlays.services import build_enqueue
    from tests.support.workers import stop_worker

    shutil.rmtree(settings.WORKSHOP_CACHE_ROOT, ignore_errors=True)
    env = {"WORKSHOP_DOWNLOAD_CONCURRENCY": str(concurrency)} if concurrency else {}
    worker = h.start_quiet_worker(concurrency=1, gossip=False, **env)
    try:
        job = h.wait_job(build_enqueue(overlay=overlay, user=None, reason="benchmark").pk, timeout=300)
    finally:
        stop_worker(worker)
    if job.state != Job.State.SUCCEEDED:
        raise SystemExit(f"build failed: {job.error}")
    lines = list(job.lines.order_by("seq"))
    began = min(line.created_at for line in lines if " downloading: " in line.text)
    ended = max(line.created_at for line in lines if " downloaded: " in line.text)
    assert job.started_at is not None and job.finished_at is not None
    return (job.finished_at - job.started_at).total_seconds(), (ended - began).total_seconds()


def main() -> None:
    os.environ.pop("WORKSHOP_DOWNLOAD_CONCURRENCY", None)
    steam = h.start_steam(rate_limit=RATE)
    ids = [str(7100001 + n) for n in range(ITEMS)]
    for steam_id in ids:
        steam.add_item(steam_id, size=SIZE)
    h.setup()
    from django.conf import settings
    from django.contrib.auth.models import User

    from overlays.items import link_items
    from overlays.services import overlay_create
    from workshop.services import items_store_metadata
    from workshop.steam import fetch_metadata_batch

    owner = User.objects.create_user("bench", password="bench-pw-1")
    overlay = overlay_create(owner=owner, name="parallel")
    link_items(overlay=overlay, items=items_store_metadata(fetch_metadata_batch(ids)).values())

    serial = build_seconds(overlay, 1)
    parallel = build_seconds(overlay, None)
    default = settings.WORKSHOP_DOWNLOAD_CONCURRENCY
    h.report("machine", h.machine())
    h.report(
        f"{ITEMS} items x {SIZE // h.MiB} MiB at {RATE / 1e6:.0f} MB/s per connection (one build job each)",
        [
            ("concurrency 1: job wall time", f"{serial[0]:.1f} s", ""),
            ("concurrency 1: downloads", f"{serial[1]:.1f} s", ""),
            (f"concurrency {default} (default): job wall time", f"{parallel[0]:.1f} s", ""),
            (f"concurrency {default} (default): downloads", f"{parallel[1]:.1f} s", ""),
            ("ratio default / one at a time (job wall time)", f"{parallel[0] / serial[0]:.2f}", "<= 0.35"),
            ("ideal ratio for this concurrency", f"{1 / min(default, ITEMS):.2f}", ""),
        ],
    )


if __name__ == "__main__":
    main()
