"""/healthz under load: the login page's latency while 50 anonymous clients poll /healthz.

gunicorn (`left4me.wsgi`, 2 sync workers, as left4me-web.service) on loopback with a worker
writing its heartbeat. POLLERS threads, in a process of their own so they do not share the
measuring process's interpreter lock, each GET /healthz again as soon as the answer comes
(bare HTTP on a new connection each time, as a monitoring probe does). The
login page is asked REQUESTS times one after another; a run keeps the median. RUNS runs
alternate without and with the pollers; every run is printed, and each figure is the median
of its runs.

    .venv/bin/python bench/healthz.py
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import statistics
import threading
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

import _harness as h

POLLERS = int(os.environ.get("BENCH_HEALTHZ_POLLERS", "50"))
REQUESTS = int(os.environ.get("BENCH_HEALTHZ_REQUESTS", "40"))
RUNS = int(os.environ.get("BENCH_HEALTHZ_RUNS", "9"))
TARGET_MS = 50.0


def poll(base: str, stop: Event, answered: Synchronized[int], errors: Synchronized[int]) -> None:
    """POLLERS threads asking /healthz in a loop until `stop` (runs in its own process).

    Each sends a bare HTTP/1.1 request on a new connection (as curl or a monitoring probe
    would; gunicorn's sync workers close it after the answer) and reads the status line: a
    client of requests would spend more CPU than the server it loads.
    """
    host, port = base.removeprefix("http://").split(":")
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()

    def one() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection((host, int(port)), timeout=30) as conn:
                    conn.sendall(request)
                    answer = b"".join(iter(lambda: conn.recv(65536), b""))
                ok = answer.startswith(b"HTTP/1.1 200 ")
            except OSError:
                ok = False
            counter = answered if ok else errors
            with counter.get_lock():
                counter.value += 1

    threads = [threading.Thread(target=one, daemon=True) for _ in range(POLLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def login_latency(base: str) -> float:
    """Median ms of REQUESTS GETs of the login page, one after another."""
    import requests

    session = requests.Session()
    samples = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = session.get(f"{base}/accounts/login/", timeout=30)
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return statistics.median(samples)


def polled_run(base: str) -> tuple[float, float, int]:
    """The login page's median with the pollers at work; /healthz answers per second; errors."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    answered, errors = ctx.Value("q", 0), ctx.Value("q", 0)
    pollers = ctx.Process(target=poll, args=(base, stop, answered, errors))
    pollers.start()
    try:
        deadline = time.monotonic() + 30
        while answered.value < POLLERS and time.monotonic() < deadline:  # all of them polling
            time.sleep(0.05)
        before, started = answered.value, time.perf_counter()
        latency = login_latency(base)
        rate = (answered.value - before) / (time.perf_counter() - started)
    finally:
        stop.set()
        pollers.join(timeout=60)
    return latency, rate, errors.value


def main() -> None:
    h.setup()
    import requests
    from pages import start_gunicorn, stop_gunicorn

    from tests.support.workers import stop_worker, wait_for

    worker = h.start_quiet_worker(concurrency=1)
    proc, base = start_gunicorn()
    quiet: list[float] = []
    polled: list[float] = []
    rates: list[float] = []
    try:
        wait_for(lambda: requests.get(f"{base}/healthz").json().get("worker") == "ok", timeout=60)
        login_latency(base)  # warm both gunicorn workers
        for run in range(1, RUNS + 1):
            quiet.append(login_latency(base))
            latency, rate, errors = polled_run(base)
            polled.append(latency)
            rates.append(rate)
            print(
                f"run {run}: login alone {quiet[-1]:.1f} ms, with {POLLERS} pollers {latency:.1f} ms "
                f"({rate:.0f} /healthz answers/s, {errors} errors)",
                flush=True,
            )
    finally:
        stop_gunicorn(proc)
        stop_worker(worker)

    h.report("machine", h.machine())
    h.report(
        f"login page while {POLLERS} anonymous clients poll /healthz (gunicorn, 2 workers); "
        f"median of {RUNS} interleaved runs, each the median of {REQUESTS} requests",
        [
            ("login page, nobody polling", f"{statistics.median(quiet):.1f} ms", ""),
            (
                f"login page, {POLLERS} clients polling",
                f"{statistics.median(polled):.1f} ms",
                f"< {TARGET_MS:.0f} ms",
            ),
            ("/healthz answers per second", f"{statistics.median(rates):.0f}", ""),
        ],
    )


if __name__ == "__main__":
    main()
