"""Global refresh at scale: 100,000 items across 2,000 overlays (50 each), every item cached,
the stand-in Steam answering each API call after 150 ms (Steam's round trip, not loopback's).

The refresh_workshop_items job runs through the real task wrapper (claim, heartbeat, log,
progress) in a process of its own, as in a worker's pool process: it counts its SQL queries (by
verb, through an execute wrapper that keeps no SQL text) and its peak RSS growth (VmHWM after the
job minus VmRSS before it, Django and the job's modules loaded). This process holds the database
rows and the stand-in Steam, which answers with the same time_updated and file_size as stored:
nothing changed. The refresh runs with half the overlays (50,000 items), then with all, to show
queries grow with batches, not items. Then 1% of the items change on Steam and the refresh runs
again: exactly the overlays holding them must get a build. Cache files are sparse 1,000-byte
files with the right mtime.

    .venv/bin/python bench/refresh.py
    BENCH_REFRESH_OVERLAYS=200 BENCH_REFRESH_LATENCY=0 .venv/bin/python bench/refresh.py  # the old 10,000-item case
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from overlays.models import Overlay
    from tests.support.fakesteam import FakeSteam
    from workshop.models import WorkshopItem

PER_OVERLAY = 50
OVERLAYS = int(os.environ.get("BENCH_REFRESH_OVERLAYS", "2000"))
LATENCY = float(os.environ.get("BENCH_REFRESH_LATENCY", "0.15"))  # seconds per API call
FILE_SIZE = 1000
TIME_UPDATED = 1_700_000_000
FIRST_ID = 8_000_000_001
MiB = 2**20


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
    api_peak: int  # most requests in flight at once
    queries: int
    kinds: str  # queries by SQL verb
    rss_before_mib: float
    rss_growth_mib: float  # VmHWM after the job - VmRSS before it, in the job's process
    build_overlays: set[int | None]  # the overlays that got a build job
    summary: str | None  # the job's summary log line
    load: str  # the machine's load average before and after


def refresh(steam: FakeSteam) -> RefreshCost:
    """Run one global refresh job in a process of its own; what it cost and which overlays got builds."""
    from fleet.services import global_refresh_enqueue
    from jobs.models import Job
    from overlays.operations import BUILD_OVERLAY

    job, _ = global_refresh_enqueue()
    builds_before = set(Job.objects.filter(operation=BUILD_OVERLAY.name).values_list("pk", flat=True))
    steam.reset_counters()
    load_before = _load()
    child = subprocess.run(
        [sys.executable, __file__, "--run-job", str(job.pk)], capture_output=True, text=True, check=False
    )
    if child.returncode != 0:
        raise SystemExit(f"refresh process failed:\n{child.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    job.refresh_from_db()
    if job.state != Job.State.SUCCEEDED:
        raise SystemExit(f"refresh failed: {job.error}")
    builds = Job.objects.filter(operation=BUILD_OVERLAY.name).exclude(pk__in=builds_before)
    return {
        "seconds": measured["seconds"],
        "queries": measured["queries"],
        "kinds": measured["kinds"],
        "rss_before_mib": measured["rss_before_mib"],
        "rss_growth_mib": measured["rss_growth_mib"],
        "api": steam.api_post_count,
        "api_peak": steam.api_peak,
        "build_overlays": set(builds.values_list("subject_id", flat=True)),
        "summary": job.lines.filter(text__startswith="workshop refresh:")
        .values_list("text", flat=True)
        .first(),
        "load": f"{load_before} -> {_load()}",
    }


def _load() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def run_job(job_id: int) -> None:
    """In the job's process: run the job, print what it cost as one JSON line."""
    from collections import Counter

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.db import connection

    from fleet.tasks import refresh_workshop_items

    kinds: Counter[str] = Counter()

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        kinds[sql.split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    rss_before = _status_kib("VmRSS")
    started = time.perf_counter()
    with connection.execute_wrapper(count):
        refresh_workshop_items.run(job_id)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "queries": sum(kinds.values()),
                "kinds": ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
                "rss_before_mib": rss_before / 1024,
                "rss_growth_mib": (_status_kib("VmHWM") - rss_before) / 1024,
            }
        )
    )


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def main() -> None:
    import _harness as h

    steam = h.start_steam(api_latency=LATENCY)
    h.setup()
    from django.conf import settings
    from django.contrib.auth.models import User

    from jobs.models import Job
    from overlays.models import OverlayWorkshopItem

    owner = User.objects.create_user("bench", password="bench-pw-1")
    half = OVERLAYS // 2
    with h.timer() as seeding:
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
    b_small, b_large = -(-n_small // 100), -(-n_large // 100)
    wall_target = "<= 60 s" if n_large == 100_000 and LATENCY == 0.15 else ""
    h.report(
        "machine",
        [
            *h.machine(),
            ("nproc", str(os.cpu_count()), ""),
            ("WORKSHOP_API_CONCURRENCY", str(settings.WORKSHOP_API_CONCURRENCY), ""),
            ("stand-in Steam latency per API call", f"{LATENCY * 1000:.0f} ms", ""),
            ("seeding the first half", f"{seeding['seconds']:.1f} s", ""),
        ],
    )

    def rows(cost: RefreshCost, n: int, batches: int) -> list[tuple[str, str, str]]:
        return [
            (f"{n} items: Steam API requests", f"{cost['api']} (at most {cost['api_peak']} at once)", ""),
            (f"{n} items: SQL queries", f"{cost['queries']}  ({cost['kinds']})", ""),
            (f"{n} items: SQL queries per API batch", f"{cost['queries'] / batches:.2f}", ""),
            (f"{n} items: wall time", f"{cost['seconds']:.1f} s", ""),
            (
                f"{n} items: peak RSS growth of the job's process",
                f"{cost['rss_growth_mib']:.1f} MiB (from {cost['rss_before_mib']:.0f} MiB)",
                "",
            ),
            (f"{n} items: builds enqueued", str(len(cost["build_overlays"])), "0"),
            (f"{n} items: load average (1/5/15 min) before -> after", cost["load"], ""),
        ]

    large_rows = rows(large, n_large, b_large)
    large_rows[0] = (large_rows[0][0], large_rows[0][1], "<= 1000")
    large_rows[3] = (large_rows[3][0], large_rows[3][1], wall_target)
    large_rows[4] = (large_rows[4][0], large_rows[4][1], "<= 200 MiB")
    h.report(
        f"global refresh, nothing changed on Steam ({half} and {OVERLAYS} overlays of {PER_OVERLAY} items)",
        [
            *rows(small, n_small, b_small),
            *large_rows,
            (
                f"queries added per extra API batch ({b_small} -> {b_large} batches)",
                f"{(large['queries'] - small['queries']) / (b_large - b_small):.2f}",
                "constant: grows with batches, not items",
            ),
            ("job summary", str(large["summary"]), ""),
        ],
    )
    wrong = after["build_overlays"] - holders
    h.report(
        f"global refresh, {len(changed)} items (1%) changed on Steam",
        [
            ("Steam API requests", f"{after['api']} (at most {after['api_peak']} at once)", "<= 1000"),
            ("SQL queries", f"{after['queries']}  ({after['kinds']})", ""),
            ("wall time", f"{after['seconds']:.1f} s", wall_target),
            ("peak RSS growth of the job's process", f"{after['rss_growth_mib']:.1f} MiB", "<= 200 MiB"),
            ("overlays holding a changed item", str(len(holders)), ""),
            ("builds enqueued", str(len(after["build_overlays"])), f"== {len(holders)}"),
            ("builds for overlays holding no changed item", str(len(wrong)), "0"),
            (
                "overlays holding a changed item without a build",
                str(len(holders - after["build_overlays"])),
                "0",
            ),
            ("load average (1/5/15 min) before -> after", after["load"], ""),
            ("job summary", str(after["summary"]), ""),
        ],
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run-job"]:
        run_job(int(sys.argv[2]))
    else:
        main()
