"""Pages: the overlay detail page with 2,000 items and the job status endpoint.

SQL queries per request are counted in this process with Django's test Client. Latency is
measured against gunicorn (`left4me.wsgi`, 2 workers) on loopback, sharing this run's
database, with a logged-in requests.Session sending the requests one after another.

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

ITEMS = int(os.environ.get("BENCH_PAGES_ITEMS", "2000"))
REQUESTS = int(os.environ.get("BENCH_PAGES_REQUESTS", "200"))
LOG_LINES = 40


def make_overlay(owner: User) -> tuple[Overlay, Job]:
    """An overlay of ITEMS cached items and a finished build job with LOG_LINES log lines."""
    from django.utils import timezone

    from jobs.models import Job, JobLogLine
    from overlays.services import BUILD_OVERLAY, overlay_create

    overlay = overlay_create(owner=owner, name="pages")
    h.seed_cached_items(overlay, 9_500_000_001, ITEMS, title="Campaign map {n:04d}")
    now = timezone.now()
    job = Job.objects.create(
        operation=BUILD_OVERLAY,
        subject=overlay,
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
    for _ in range(10):  # warm both gunicorn workers
        session.get(url).raise_for_status()
    samples: list[float] = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = session.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return samples


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
    detail, status = f"/overlays/{overlay.pk}/", f"/jobs/{job.pk}/status/?after=0"

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(owner)
    detail_queries = queries_per_request(client, detail)
    status_queries = queries_per_request(client, status)

    proc, base = start_gunicorn()
    try:
        session = requests.Session()
        session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
        detail_ms = latencies(session, base + detail)
        status_ms = latencies(session, base + status)
        page_bytes = len(session.get(base + detail).content)
    finally:
        stop_gunicorn(proc)

    h.report("machine", h.machine())
    h.report(
        f"overlay detail page, {ITEMS} items ({page_bytes // 1024} KiB of HTML)",
        [
            ("SQL queries per request", str(detail_queries), "<= 10"),
            (f"median latency over {REQUESTS} requests", f"{statistics.median(detail_ms):.1f} ms", ""),
            ("p95 latency", f"{p95(detail_ms):.1f} ms", ""),
        ],
    )
    h.report(
        f"job status endpoint ({LOG_LINES - 1} log lines)",
        [
            ("SQL queries per request", str(status_queries), "<= 5"),
            (f"median latency over {REQUESTS} requests", f"{statistics.median(status_ms):.1f} ms", ""),
            ("p95 latency", f"{p95(status_ms):.1f} ms", ""),
        ],
    )


if __name__ == "__main__":
    main()
