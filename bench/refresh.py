"""Global refresh at scale: 10,000 items across 200 overlays (50 each), every item cached.

The refresh_workshop_items job runs in this process through the real task wrapper (claim,
heartbeat, log, progress) against the fake Steam on loopback, which answers with the same
time_updated and file_size as stored: nothing changed. Counted: Steam API requests, SQL queries
(also at 5,000 items, to show they grow with batches rather than items), wall time, and build
jobs enqueued. Then 1% of the items change on Steam and the refresh runs again: only the
overlays holding them may get a build. Cache files are 1,000-byte files with the right mtime.

    .venv/bin/python bench/refresh.py
"""

from __future__ import annotations

import os
import random
from collections import Counter
from typing import TYPE_CHECKING, TypedDict

import _harness as h

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from overlays.models import Overlay
    from tests.support.fakesteam import FakeSteam
    from workshop.models import WorkshopItem

PER_OVERLAY = 50
OVERLAYS = int(os.environ.get("BENCH_REFRESH_OVERLAYS", "200"))
FILE_SIZE = 1000
TIME_UPDATED = 1_700_000_000
FIRST_ID = 8_000_000_001


def steam_id(n: int) -> str:
    return str(FIRST_ID + n)


def add_overlays(steam: FakeSteam, owner: User, first: int, count: int) -> None:
    """`count` overlays of PER_OVERLAY items each, rows and cache files as a finished build leaves them."""
    from django.conf import settings
    from django.utils import timezone

    from overlays.models import Overlay, OverlayWorkshopItem
    from workshop.models import WorkshopItem

    now = timezone.now()
    cache = settings.WORKSHOP_CACHE_ROOT
    cache.mkdir(parents=True, exist_ok=True)
    overlays = Overlay.objects.bulk_create(
        [Overlay(owner=owner, name=f"overlay-{n:04d}", kind="workshop") for n in range(first, first + count)]
    )
    items: list[WorkshopItem] = []
    links: list[tuple[Overlay, WorkshopItem]] = []
    for k, overlay in enumerate(overlays):
        for j in range(PER_OVERLAY):
            sid = steam_id((first + k) * PER_OVERLAY + j)
            steam.add_item(sid, size=FILE_SIZE, time_updated=TIME_UPDATED)
            fields = {**steam.details[sid], "file_size": FILE_SIZE, "time_updated": TIME_UPDATED}
            item = WorkshopItem(
                steam_id=sid,
                **{f: fields[f] for f in ("title", "filename", "file_url", "preview_url", "consumer_app_id")},
                file_size=FILE_SIZE,
                time_updated=TIME_UPDATED,
                steam_result=1,
                last_checked_at=now,
                last_downloaded_at=now,
            )
            items.append(item)
            links.append((overlay, item))
            path = cache / f"{sid}.vpk"
            with open(path, "wb") as fh:
                fh.truncate(FILE_SIZE)
            os.utime(path, (TIME_UPDATED, TIME_UPDATED))
    WorkshopItem.objects.bulk_create(items, batch_size=1000)
    OverlayWorkshopItem.objects.bulk_create(
        [OverlayWorkshopItem(overlay=o, item=i) for o, i in links], batch_size=1000
    )


class RefreshCost(TypedDict):
    seconds: float
    api: int  # Steam API requests
    queries: int
    kinds: str  # queries by SQL verb
    build_overlays: set[int | None]  # the overlays that got a build job
    summary: str | None  # the job's summary log line


def refresh(steam: FakeSteam) -> RefreshCost:
    """Run one global refresh job in this process; what it cost and which overlays got builds."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.models import Job
    from overlays.services import BUILD_OVERLAY, global_refresh_enqueue
    from overlays.tasks import refresh_workshop_items

    job, _ = global_refresh_enqueue()
    builds_before = set(Job.objects.filter(operation=BUILD_OVERLAY).values_list("pk", flat=True))
    steam.reset_counters()
    with CaptureQueriesContext(connection) as queries, h.timer() as took:
        refresh_workshop_items.run(job.pk)
    job.refresh_from_db()
    if job.state != Job.State.SUCCEEDED:
        raise SystemExit(f"refresh failed: {job.error}")
    builds = Job.objects.filter(operation=BUILD_OVERLAY).exclude(pk__in=builds_before)
    kinds = Counter(q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries)
    return {
        "seconds": took["seconds"],
        "api": steam.api_post_count,
        "queries": len(queries),
        "kinds": ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
        "build_overlays": set(builds.values_list("subject_id", flat=True)),
        "summary": job.lines.filter(text__startswith="workshop refresh:")
        .values_list("text", flat=True)
        .first(),
    }


def main() -> None:
    steam = h.start_steam()
    h.setup()
    from django.contrib.auth.models import User

    from jobs.models import Job
    from overlays.models import OverlayWorkshopItem

    owner = User.objects.create_user("bench", password="bench-pw-1")
    half = OVERLAYS // 2
    add_overlays(steam, owner, 0, half)
    small = refresh(steam)
    add_overlays(steam, owner, half, OVERLAYS - half)
    large = refresh(steam)

    ids = sorted(steam.details)
    changed = random.Random(7).sample(ids, len(ids) // 100)
    for sid in changed:
        steam.details[sid]["time_updated"] = TIME_UPDATED + 3600
    holders = set(
        OverlayWorkshopItem.objects.filter(item__steam_id__in=changed).values_list("overlay_id", flat=True)
    )
    after = refresh(steam)
    Job.objects.filter(state=Job.State.QUEUED).update(state=Job.State.CANCELLED)  # nobody runs them here

    n_small, n_large = half * PER_OVERLAY, OVERLAYS * PER_OVERLAY
    h.report("machine", h.machine())
    h.report(
        "global refresh, nothing changed on Steam",
        [
            (f"{n_small} items / {half} overlays: Steam API requests", str(small["api"]), ""),
            (f"{n_small} items: SQL queries", f"{small['queries']}  ({small['kinds']})", ""),
            (f"{n_small} items: wall time", f"{small['seconds']:.2f} s", ""),
            (f"{n_small} items: builds enqueued", str(len(small["build_overlays"])), "0"),
            (f"{n_large} items / {OVERLAYS} overlays: Steam API requests", str(large["api"]), "<= 100"),
            (
                f"{n_large} items: SQL queries",
                f"{large['queries']}  ({large['kinds']})",
                "grows with batches, not items",
            ),
            (f"{n_large} items: wall time", f"{large['seconds']:.2f} s", ""),
            (f"{n_large} items: builds enqueued", str(len(large["build_overlays"])), "0"),
            (
                "queries added per extra 100 items (one API batch)",
                f"{(large['queries'] - small['queries']) / ((n_large - n_small) / 100):.2f}",
                "",
            ),
            ("job summary", str(large["summary"]), ""),
        ],
    )
    wrong = after["build_overlays"] - holders
    h.report(
        f"global refresh, {len(changed)} items (1%) changed on Steam",
        [
            ("Steam API requests", str(after["api"]), "<= 100"),
            ("SQL queries", f"{after['queries']}  ({after['kinds']})", ""),
            ("wall time", f"{after['seconds']:.2f} s", ""),
            ("overlays holding a changed item", str(len(holders)), ""),
            ("builds enqueued", str(len(after["build_overlays"])), f"== {len(holders)}"),
            ("builds for overlays holding no changed item", str(len(wrong)), "0"),
            (
                "overlays holding a changed item without a build",
                str(len(holders - after["build_overlays"])),
                "0",
            ),
            ("job summary", str(after["summary"]), ""),
        ],
    )


if __name__ == "__main__":
    main()
