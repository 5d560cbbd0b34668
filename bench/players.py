"""The players' page of a 2,000-item overlay under 50 concurrent clients.

An overlay of ITEMS items (titles, sizes, previews), a followed collection and two campaigns is
shared; gunicorn (`left4me.wsgi`, 2 sync workers, as left4me-web.service) serves it on loopback.
CLIENTS threads, in a process of their own so they do not share the measuring process's
interpreter lock, each GET /p/<token>/ again as soon as the answer comes (a bare HTTP/1.1
request on a new connection each time, taking gzip as browsers do, reading the whole answer) for SECONDS; each request's
latency is kept. Every run is printed (median, 95th percentile, answers per second); the figure
is the median of the RUNS runs' medians. The queries per request (first and cached) are counted
in this process with Django's test Client.

    .venv/bin/python bench/players.py
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import statistics
import threading
import time
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING

import _harness as h

if TYPE_CHECKING:
    from overlays.models import Overlay

ITEMS = int(os.environ.get("BENCH_PLAYERS_ITEMS", "2000"))
CLIENTS = int(os.environ.get("BENCH_PLAYERS_CLIENTS", "50"))
SECONDS = float(os.environ.get("BENCH_PLAYERS_SECONDS", "5"))
RUNS = int(os.environ.get("BENCH_PLAYERS_RUNS", "9"))
QUERY_TARGET = 10


def make_shared_overlay() -> Overlay:
    from django.contrib.auth.models import User

    from overlays.models import OverlayWorkshopCollection, OverlayWorkshopItem
    from overlays.players import overlay_share
    from overlays.services import overlay_create
    from workshop.models import WorkshopItem

    owner = User.objects.create_user("bench", password="bench-pw-1")
    overlay = overlay_create(owner=owner, name="Campaign nights")
    items = WorkshopItem.objects.bulk_create(
        [
            WorkshopItem(
                steam_id=str(9_600_000_001 + n),
                title=f"Campaign map {n:05d}",
                file_size=20 * 2**20 + n,
                preview_url=f"https://images.steamusercontent.com/ugc/{n}/preview.jpg",
            )
            for n in range(ITEMS)
        ],
        batch_size=1000,
    )
    OverlayWorkshopItem.objects.bulk_create(
        [OverlayWorkshopItem(overlay=overlay, item=item) for item in items], batch_size=1000
    )
    OverlayWorkshopCollection.objects.create(overlay=overlay, steam_id="9500000001", title="Our maps")
    overlay.campaigns = [
        {
            "steam_id": items[n].steam_id,
            "item_title": items[n].title,
            "name": f"Campaign {n}",
            "modes": {
                "coop": [f"c{n}m{m}" for m in range(1, 6)],
                "versus": [f"c{n}m{m}" for m in range(1, 6)],
            },
            "problem": "",
        }
        for n in range(2)
    ]
    overlay.save()
    overlay_share(overlay=overlay)
    return overlay


def load(base: str, path: str, seconds: float, out: Queue[tuple[list[float], int]]) -> None:
    """CLIENTS threads asking `path` in a loop for `seconds` (runs in its own process); puts the
    latencies (ms) of the answers that were 200 and the number of the others."""
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip, deflate, br\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def one() -> None:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                with socket.create_connection((host, int(port)), timeout=60) as conn:
                    conn.sendall(request)
                    answer = b"".join(iter(lambda: conn.recv(262144), b""))
                ok = answer.startswith(b"HTTP/1.1 200 ")
            except OSError:
                ok = False
            took = (time.perf_counter() - start) * 1000
            with lock:
                if ok:
                    samples.append(took)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=one, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((samples, errors[0]))


def loaded_run(base: str, path: str) -> tuple[list[float], int]:
    ctx = multiprocessing.get_context("spawn")
    out: Queue[tuple[list[float], int]] = ctx.Queue()
    clients = ctx.Process(target=load, args=(base, path, SECONDS, out))
    clients.start()
    result = out.get(timeout=SECONDS + 300)
    clients.join(timeout=60)
    return result


def queries(path: str) -> tuple[int, int]:
    """SQL queries of the first answer (nothing cached) and of the next one."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    cache.clear()
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as seen:
            assert Client(HTTP_HOST="127.0.0.1").get(path).status_code == 200
        counts.append(len(seen))
    return counts[0], counts[1]


def main() -> None:
    (h.ROOT / "static").mkdir()  # whitenoise warns on every request without it
    h.setup(redis=False)
    import requests
    from pages import start_gunicorn, stop_gunicorn

    overlay = make_shared_overlay()
    path = f"/p/{overlay.share_token}/"
    first, cached = queries(path)
    json_first, json_cached = queries(f"{path}addons.json")
    proc, base = start_gunicorn()
    medians: list[float] = []
    try:
        size = len(requests.get(f"{base}{path}", timeout=30).content)
        packed = requests.get(f"{base}{path}", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30)
        sent = len(packed.raw.read(decode_content=False))
        for _ in range(4):  # warm both gunicorn workers' caches
            requests.get(f"{base}{path}", timeout=30).raise_for_status()
        for run in range(1, RUNS + 1):
            samples, errors = loaded_run(base, path)
            medians.append(statistics.median(samples))
            p95 = statistics.quantiles(samples, n=20)[-1]
            print(
                f"run {run}: median {medians[-1]:.1f} ms, p95 {p95:.1f} ms, "
                f"{len(samples) / SECONDS:.0f} answers/s, {errors} errors",
                flush=True,
            )
    finally:
        stop_gunicorn(proc)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    h.report("machine", [*h.machine(), ("load average (1, 5, 15 min)", load, "")])
    h.report(
        f"players' page of {ITEMS} items ({size / 1024:.0f} KiB of HTML, {sent / 1024:.0f} KiB gzipped), "
        f"{CLIENTS} concurrent clients "
        f"(gunicorn, 2 sync workers); median of {RUNS} runs of {SECONDS:.0f} s",
        [
            ("queries, first answer (html / json)", f"{first} / {json_first}", f"<= {QUERY_TARGET}"),
            ("queries, cached answer (html / json)", f"{cached} / {json_cached}", f"<= {QUERY_TARGET}"),
            ("median latency", f"{statistics.median(medians):.1f} ms", ""),
        ],
    )


if __name__ == "__main__":
    main()
