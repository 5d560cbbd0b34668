"""/metrics of a fleet of 100,000 items: its queries and its time per scrape, and the time of the
periodic task that counts the items by state (fleet.count_items, every
LEFT4ME_METRICS_ITEMS_SECONDS), which the scrapes read.

Seeded with bulk_create: ITEMS workshop items linked into overlays of 2,000 items spread over
HOSTS hosts (a fifth of them failed or waiting), JOBS finished jobs of several operations, and
the counters of every host (job durations included). /metrics is asked from loopback through
Django's test Client in this process (the whole request: middleware, its queries, the text),
REQUESTS times a run; a run keeps the median; every run is printed and the figure is the median of RUNS runs.

    .venv/bin/python bench/metrics.py
"""

from __future__ import annotations

import os
import statistics

import _harness as h

ITEMS = int(os.environ.get("BENCH_METRICS_ITEMS", "100000"))
PER_OVERLAY = 2000
HOSTS = int(os.environ.get("BENCH_METRICS_HOSTS", "10"))
JOBS = int(os.environ.get("BENCH_METRICS_JOBS", "20000"))
REQUESTS = int(os.environ.get("BENCH_METRICS_REQUESTS", "10"))
RUNS = int(os.environ.get("BENCH_METRICS_RUNS", "9"))
TARGET_MS = 200.0
QUERY_TARGET = 15


def seed() -> None:
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.utils import timezone

    from jobs.models import Job
    from left4me import counters
    from left4me.models import Counter, Host
    from overlays.models import Overlay, OverlayWorkshopItem
    from workshop.models import WorkshopItem

    now = timezone.now()
    owner = User.objects.create_user("bench", password="bench-pw-1")
    hosts = Host.objects.bulk_create(
        Host(name=f"host{n}", cache_bytes=n * 2**30, free_bytes=2**40, total_bytes=2**41, last_seen_at=now)
        for n in range(HOSTS)
    )
    items = WorkshopItem.objects.bulk_create(
        (
            WorkshopItem(
                steam_id=str(9_700_000_001 + n),
                title=f"Item {n}",
                file_url="https://cdn.example/x",
                file_size=20 * 2**20,
                time_updated=1_700_000_000,
                cached_version=0 if n % 10 == 0 else 1_700_000_000,
                last_error="download failed: HTTP 404" if n % 10 == 1 else "",
            )
            for n in range(ITEMS)
        ),
        batch_size=5000,
    )
    overlays = Overlay.objects.bulk_create(
        Overlay(owner=owner, name=f"overlay {n}", host=hosts[n % HOSTS])
        for n in range((ITEMS + PER_OVERLAY - 1) // PER_OVERLAY)
    )
    OverlayWorkshopItem.objects.bulk_create(
        (OverlayWorkshopItem(overlay=overlays[n // PER_OVERLAY], item=item) for n, item in enumerate(items)),
        batch_size=5000,
    )
    operations = ["build_overlay", "refresh_overlay", "refresh_workshop_items", "collect_workshop_cache"]
    Job.objects.bulk_create(
        (
            Job(
                operation=operations[n % len(operations)],
                state="failed" if n % 17 == 0 else "succeeded",
                started_at=now - timedelta(seconds=n % 5000),
                finished_at=now,
            )
            for n in range(JOBS)
        ),
        batch_size=5000,
    )
    names = [
        counters.DOWNLOADED_BYTES,
        counters.STEAM_API_CALLS,
        counters.STEAM_API_FAILURES,
        counters.STEAM_API_RETRIES,
    ]
    Counter.objects.bulk_create(
        Counter(host=host.name, name=name, value=10**9) for host in hosts for name in names
    )


def main() -> None:
    (h.ROOT / "static").mkdir()  # whitenoise warns on every request without it
    h.setup(redis=False)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from fleet.metrics import items_count

    with h.timer() as took:
        seed()
    print(f"seeded {ITEMS} items, {JOBS} jobs, {HOSTS} hosts in {took['seconds']:.0f} s", flush=True)
    items_count()
    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    with CaptureQueriesContext(connection) as seen:
        response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    assert b'left4me_items{host="host0",state="failed"}' in response.content
    queries = len(seen)
    lines = sum(1 for line in response.content.splitlines() if not line.startswith(b"#"))

    scrapes: list[float] = []
    counts: list[float] = []
    for run in range(1, RUNS + 1):
        scrapes.append(h.median_ms(lambda: client.get("/metrics"), runs=REQUESTS))
        counts.append(h.median_ms(items_count, runs=3))
        print(
            f"run {run}: scrape {scrapes[-1]:.1f} ms (median of {REQUESTS}); "
            f"the periodic count of the items {counts[-1]:.1f} ms (median of 3)",
            flush=True,
        )

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    h.report("machine", [*h.machine(), ("load average (1, 5, 15 min)", load, "")])
    h.report(
        f"/metrics at {ITEMS} items, {JOBS} jobs, {HOSTS} hosts (SQLite); median of {RUNS} runs, "
        f"each the median of {REQUESTS} scrapes",
        [
            ("queries per scrape", str(queries), f"<= {QUERY_TARGET}"),
            ("samples per scrape", str(lines), ""),
            ("scrape", f"{statistics.median(scrapes):.1f} ms", f"<= {TARGET_MS:.0f} ms"),
            ("periodic count (fleet.count_items)", f"{statistics.median(counts):.1f} ms", "off the scrape"),
        ],
    )


if __name__ == "__main__":
    main()
