"""Download speed and memory: one 1 GiB item from the fake Steam on loopback.

Compares left4me's downloader, run by a real Celery worker (concurrency 1) as part of an
overlay build, with `curl -o` fetching the same URL into the same temp dir in the same run.
left4me fsyncs the file before renaming it into the cache and curl does not, so curl is timed
twice: plain (the figure the target is judged on) and followed by an fsync of its file.
Peak RSS growth is measured on the worker's pool process: VmHWM after the job minus VmRSS before.

    .venv/bin/python bench/download.py            # 1 GiB, 5 runs of each
    BENCH_DOWNLOAD_MIB=256 .venv/bin/python bench/download.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from typing import TYPE_CHECKING

import _harness as h

if TYPE_CHECKING:
    from overlays.models import Overlay

SIZE = int(os.environ.get("BENCH_DOWNLOAD_MIB", "1024")) * h.MiB
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
STEAM_ID = "7000001"


def curl_seconds(url: str, *, fsync: bool) -> float:
    target = h.ROOT / "curl-download.vpk"
    start = time.perf_counter()
    subprocess.run(["curl", "-s", "-f", "-o", str(target), url], check=True)
    if fsync:
        fd = os.open(target, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    seconds = time.perf_counter() - start
    if target.stat().st_size != SIZE:
        raise SystemExit(f"curl got {target.stat().st_size} bytes, expected {SIZE}")
    target.unlink()
    return seconds


def left4me_run(overlay: Overlay, pool_pid: int) -> tuple[float, float, int]:
    """One build that downloads the item: (download seconds, job seconds, pool VmHWM KiB)."""
    from jobs.models import Job
    from overlays.build import cache_file
    from overlays.services import build_enqueue

    cache_file(STEAM_ID).unlink(missing_ok=True)
    job = h.wait_job(build_enqueue(overlay=overlay, user=None, reason="benchmark").pk)
    if job.state != Job.State.SUCCEEDED or cache_file(STEAM_ID).stat().st_size != SIZE:
        raise SystemExit(f"build failed: {job.error}")
    lines = {line.text.partition(":")[0]: line.created_at for line in job.lines.all()}
    began = lines[f"workshop {STEAM_ID} downloading"]
    ended = lines[f"workshop {STEAM_ID} downloaded"]
    assert job.started_at is not None and job.finished_at is not None
    return (
        (ended - began).total_seconds(),
        (job.finished_at - job.started_at).total_seconds(),
        h.proc_status_kib(pool_pid, "VmHWM"),
    )


def main() -> None:
    steam = h.start_steam()
    steam.add_item(STEAM_ID, size=SIZE)
    h.setup()
    from django.contrib.auth.models import User

    from overlays.items import link_items
    from overlays.services import overlay_create
    from tests.support.workers import stop_worker, wait_for
    from workshop.services import items_store_metadata
    from workshop.steam import fetch_metadata_batch

    owner = User.objects.create_user("bench", password="bench-pw-1")
    overlay = overlay_create(owner=owner, name="download")
    link_items(overlay=overlay, items=items_store_metadata(fetch_metadata_batch([STEAM_ID])).values())
    url = steam.file_url(STEAM_ID)

    worker = h.start_quiet_worker(concurrency=1)
    curl_plain: list[float] = []
    curl_sync: list[float] = []
    runs: list[tuple[float, float, int]] = []
    try:
        children = wait_for(lambda: h.worker_children(worker.pid), timeout=60)
        assert isinstance(children, list)
        pool: int = children[0]
        time.sleep(2)  # the pool process has finished starting
        rss_before = h.proc_status_kib(pool, "VmRSS")
        for _ in range(RUNS):  # interleaved, each from a clean page cache, so disk writeback hits all alike
            os.sync()
            curl_plain.append(curl_seconds(url, fsync=False))
            os.sync()
            curl_sync.append(curl_seconds(url, fsync=True))
            os.sync()
            runs.append(left4me_run(overlay, pool))
        rss_after = h.proc_status_kib(pool, "VmRSS")
    finally:
        stop_worker(worker)

    mib = SIZE / h.MiB
    plain, synced = statistics.median(curl_plain), statistics.median(curl_sync)
    ours = statistics.median(r[0] for r in runs)
    job = statistics.median(r[1] for r in runs)
    growth = (max(r[2] for r in runs) - rss_before) / 1024
    h.report("machine", h.machine())
    h.report(
        f"download of one {mib:.0f} MiB item, median of {RUNS} runs (MiB/s)",
        [
            ("curl -o", f"{mib / plain:.0f} MiB/s  ({plain:.2f} s)", ""),
            ("curl -o + fsync", f"{mib / synced:.0f} MiB/s  ({synced:.2f} s)", ""),
            (
                "left4me download (log: downloading -> downloaded)",
                f"{mib / ours:.0f} MiB/s  ({ours:.2f} s)",
                "",
            ),
            ("left4me whole build job (started -> finished)", f"{mib / job:.0f} MiB/s  ({job:.2f} s)", ""),
            ("ratio left4me / curl -o (judged)", f"{plain / ours:.2f}", ">= 0.9"),
            ("ratio left4me / curl -o + fsync (context)", f"{synced / ours:.2f}", ""),
            ("runs (s): curl", " ".join(f"{s:.2f}" for s in curl_plain), ""),
            ("runs (s): curl + fsync", " ".join(f"{s:.2f}" for s in curl_sync), ""),
            ("runs (s): left4me", " ".join(f"{r[0]:.2f}" for r in runs), ""),
        ],
    )
    h.report(
        "worker memory (pool process)",
        [
            ("VmRSS before the first job", f"{rss_before / 1024:.1f} MiB", ""),
            ("VmHWM after the jobs", f"{max(r[2] for r in runs) / 1024:.1f} MiB", ""),
            ("VmRSS after the jobs", f"{rss_after / 1024:.1f} MiB", ""),
            ("peak RSS growth while downloading", f"{growth:.1f} MiB", "< 50 MiB"),
        ],
    )


if __name__ == "__main__":
    main()
