"""Pages: an overlay of 10,000 items (any page, any sort, a search), the overlay list, the
overlay's live status and the job status endpoint.

SQL queries per request are counted in this process with Django's test Client. Latency is
measured against gunicorn (`left4me.wsgi`, 2 workers) on loopback, sharing this run's
database, with a logged-in requests.Session sending the requests one after another. The pages
are measured in RUNS interleaved runs (each run asks every page REQUESTS times and keeps the
median); every run is printed, and the figure is the median of the runs.

    .venv/bin/python bench/pages.py
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import _harness as h

if TYPE_CHECKING:
    import requests
    from django.contrib.auth.models import User
    from django.test import Client

    from jobs.models import Job
    from overlays.models import Overlay

ITEMS = int(os.environ.get("BENCH_PAGES_ITEMS", "10000"))
REQUESTS = int(os.environ.get("BENCH_PAGES_REQUESTS", "20"))
RUNS = int(os.environ.get("BENCH_PAGES_RUNS", "9"))
LOG_LINES = 40


def make_overlay(owner: User) -> tuple[Overlay, Job]:
    """An overlay of ITEMS cached items and a finished build job with LOG_LINES log lines."""
    from django.utils import timezone

    from jobs.models import Job, JobLogLine
    from overlays.models import OverlayCollectionItem, OverlayWorkshopCollection
    from overlays.operations import BUILD_OVERLAY
    from overlays.services import overlay_create

    overlay = overlay_create(owner=owner, name="pages")
    items = h.seed_cached_items(overlay, 9_500_000_001, ITEMS, title="Campaign map {n:05d}")
    # Half the items came with a followed collection, so the rows name their sources.
    collection = OverlayWorkshopCollection.objects.create(
        overlay=overlay, steam_id="9400000001", title="Maps"
    )
    OverlayCollectionItem.objects.bulk_create(
        [OverlayCollectionItem(collection=collection, item=item) for item in items[: ITEMS // 2]]
    )
    now = timezone.now()
    job = Job.objects.create(
        operation=BUILD_OVERLAY.name,
        subject=overlay,
        subject_name=overlay.name,
        reason=f"added {ITEMS} items",
        owner=owner,
        user=owner,
        state=Job.State.SUCCEEDED,
        started_at=now,
        finished_at=now,
        items_total=ITEMS,
        items_done=ITEMS,
    )
    JobLogLine.objects.bulk_create(
        [
            JobLogLine(job=job, seq=n, text=f"workshop {9_500_000_000 + n} downloaded")
            for n in range(1, LOG_LINES)
        ]
    )
    return overlay, job


def queries_per_request(client: Client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: HTTP {response.status_code}")
    return len(queries)


def start_gunicorn() -> tuple[subprocess.Popen[bytes], str]:
    from tests.support.redisproc import free_port
    from tests.support.workers import database_url, wait_for

    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url())
    log = open(h.ROOT / "gunicorn.log", "wb")  # noqa: SIM115 (gunicorn keeps it)
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "left4me.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=h.REPO, env=env, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        import requests

        try:
            return requests.get(f"{base}/accounts/login/", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=30)
    except AssertionError:
        stop_gunicorn(proc)
        raise SystemExit(
            f"gunicorn did not answer: see {h.ROOT / 'gunicorn.log'}:\n"
            + (h.ROOT / "gunicorn.log").read_text()[-3000:]
        ) from None
    return proc, base


def stop_gunicorn(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def latencies(session: requests.Session, url: str) -> list[float]:
    samples: list[float] = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = session.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return samples


def interleaved(session: requests.Session, urls: dict[str, str]) -> dict[str, list[float]]:
    """RUNS runs over every url in turn; name -> each run's median (ms). Prints every run."""
    for url in urls.values():  # warm both gunicorn workers
        for _ in range(4):
            session.get(url).raise_for_status()
    runs: dict[str, list[float]] = {name: [] for name in urls}
    for run in range(1, RUNS + 1):
        for name, url in urls.items():
            runs[name].append(statistics.median(latencies(session, url)))
        print(f"run {run}: " + ", ".join(f"{name} {runs[name][-1]:.1f} ms" for name in urls), flush=True)
    return runs


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def main() -> None:
    (h.ROOT / "static").mkdir()  # whitenoise warns on every request without it
    h.setup()
    import requests
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    owner = User.objects.create_user("bench", password="bench-pw-1")
    overlay, job = make_overlay(owner)
    base_url = f"/overlays/{overlay.pk}/"
    pages = {
        "page 1 by title": base_url,
        "page 50 largest first": f"{base_url}?sort=-size&page=50",
        "last page newest first": f"{base_url}?sort=-updated&page={(ITEMS + 99) // 100}",
        "search 'map 012'": f"{base_url}?q=map+012",
        "cached, Z to A, page 20": f"{base_url}?state=cached&sort=-title&page=20",
        "overlay list": "/overlays/",
        "overlay status": f"/overlays/{overlay.pk}/status/?ids="
        + ",".join(str(9_500_000_001 + n) for n in range(100)),
        "job status": f"/jobs/{job.pk}/status/?after=0",
    }

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(owner)
    queries = {name: queries_per_request(client, url) for name, url in pages.items()}

    proc, base = start_gunicorn()
    try:
        session = requests.Session()
        session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
        page_bytes = len(session.get(base + base_url).content)
        runs = interleaved(session, {name: base + url for name, url in pages.items()})
    finally:
        stop_gunicorn(proc)

    h.report("machine", h.machine())
    h.report(
        f"overlay of {ITEMS} items: one page of 100 is {page_bytes // 1024} KiB of HTML; "
        f"median of {RUNS} interleaved runs, each the median of {REQUESTS} requests",
        [
            (f"{name}: SQL queries / median latency", f"{queries[name]} / {statistics.median(runs[name]):.1f} ms",
             "<= 5 / -" if "status" in name else "<= 10 / <= 80 ms")
            for name in pages
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
