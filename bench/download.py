"""Download speed, memory and segmented downloads: 1 GiB items from the stand-in Steam and nginx.

1. Speed. One 1 GiB item, no rate limit, served by the stand-in Steam (tests/support/fakesteam.py)
   and, so that the stand-in's own speed is out of the picture, as a static file by nginx
   (installed with apt when missing, if this user may). Each round runs, interleaved and each
   after an ``os.sync()`` (so disk writeback from the last one hits none of them): ``curl -o``
   into the same temp dir, ``curl -o`` followed by an fsync of its file, and an overlay build by
   a real Celery worker (concurrency 1) after the cache file is deleted; left4me's time is its
   log line ``workshop <id> downloading`` to ``... downloaded`` (after its fsync and rename).
   Every run is printed, then the medians beside the targets.
2. Memory: the worker's pool process, VmHWM after the builds minus VmRSS before.
3. A 1 GiB item at 20 MB/s per connection (the stand-in's rate limit, as Steam's CDN has): the
   build's download wall time against ``curl -o``'s, in BENCH_SLOW_RUNS interleaved rounds.
4. Kill and resume: a process downloading that item is killed (SIGKILL) once half of it is
   recorded in the partial's sidecar; a second one finishes it. The stand-in counts every body
   byte it sent; bytes sent in all / file size says how much was fetched twice.

    .venv/bin/python bench/download.py                  # 9 rounds, everything
    BENCH_RUNS=3 BENCH_DOWNLOAD_MIB=256 BENCH_SLOW=0 .venv/bin/python bench/download.py
    BENCH_SEGMENTS=1 BENCH_SLOW=0 .venv/bin/python bench/download.py   # one stream per item
    BENCH_SLOW_RUNS=3 .venv/bin/python bench/download.py   # fewer throttled rounds (~70 s each)
    BENCH_SPEED=0 .venv/bin/python bench/download.py       # the throttled rounds only
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import _harness as h

if TYPE_CHECKING:
    from overlays.models import Overlay
    from tests.support.fakesteam import FakeFile, FakeSteam

SIZE = int(os.environ.get("BENCH_DOWNLOAD_MIB", "1024")) * h.MiB
RUNS = int(os.environ.get("BENCH_RUNS", "9"))
SLOW = os.environ.get("BENCH_SLOW", "1") != "0"
SPEED = os.environ.get("BENCH_SPEED", "1") != "0"  # 0: the throttled rounds only
SLOW_RUNS = int(os.environ.get("BENCH_SLOW_RUNS", str(RUNS)))  # each ~70 s at 1 GiB
# WORKSHOP_SEGMENTS_PER_ITEM for the worker; 1 measures the single stream (a small item's path)
SEGMENTS = os.environ.get("BENCH_SEGMENTS", "4")
RATE = 20_000_000  # bytes/s per connection
STAND_IN_ID, NGINX_ID, SLOW_ID = "7000001", "7000002", "7000003"


# --- nginx serving a static copy of the item ---------------------------------------------------


def nginx_binary() -> str | None:
    """nginx, installed with apt when missing and this user may (root, or sudo without a password)."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if found:
        return found
    apt = ["apt-get", "install", "-y", "nginx"]
    command = apt if os.geteuid() == 0 else (["sudo", "-n", *apt] if shutil.which("sudo") else None)
    if command is None:
        print("nginx is missing and this user cannot install it (not root, no sudo): nginx runs skipped")
        return None
    if subprocess.run(command, capture_output=True).returncode != 0:
        print(f"nginx is missing and `{' '.join(command)}` failed: nginx runs skipped")
        return None
    return shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_nginx(binary: str, fake: FakeFile) -> str:
    """nginx on loopback serving ``fake``'s bytes at /files/<id>; its URL."""
    base = h.ROOT / "nginx"
    (base / "www" / "files").mkdir(parents=True)
    for folder in (h.ROOT, base, base / "www", base / "www" / "files"):
        folder.chmod(0o755)  # run as root, nginx's workers read as nobody
    with open(base / "www" / "files" / fake.steam_id, "wb") as out:
        for position in range(0, fake.size, 8 * h.MiB):
            out.write(fake.read(position, 8 * h.MiB))
    (base / "www" / "files" / fake.steam_id).chmod(0o644)
    port = free_port()
    temp = " ".join(
        f"{kind}_temp_path {base}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (base / "nginx.conf").write_text(
        f"worker_processes 1; pid {base}/nginx.pid; error_log {base}/error.log; daemon off;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log off; sendfile on; {temp}\n"
        f"  server {{ listen 127.0.0.1:{port}; root {base}/www; }} }}\n"
    )
    proc = subprocess.Popen(
        [binary, "-p", str(base), "-c", str(base / "nginx.conf"), "-e", str(base / "error.log")]
    )
    h.atexit_kill(proc)
    url = f"http://127.0.0.1:{port}/files/{fake.steam_id}"
    for _ in range(100):
        if subprocess.run(["curl", "-s", "-f", "-r", "0-0", "-o", "/dev/null", url]).returncode == 0:
            return url
        time.sleep(0.1)
    raise SystemExit(f"nginx did not start: {(base / 'error.log').read_text()}")


# --- one run of each ---------------------------------------------------------------------------


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


def left4me_seconds(overlay: Overlay, steam_id: str) -> float:
    """One build that downloads the item: its download time, from the job's log."""
    from jobs.models import Job
    from overlays.build import cache_file
    from overlays.services import build_enqueue

    cache_file(steam_id).unlink(missing_ok=True)
    job = h.wait_job(build_enqueue(overlay=overlay, user=None, reason="benchmark").pk)
    if job.state != Job.State.SUCCEEDED or cache_file(steam_id).stat().st_size != SIZE:
        raise SystemExit(f"build failed: {job.error}")
    lines = {line.text.partition(":")[0]: line.created_at for line in job.lines.all()}
    return (
        lines[f"workshop {steam_id} downloaded"] - lines[f"workshop {steam_id} downloading"]
    ).total_seconds()


def overlay_of(owner: object, steam_id: str) -> Overlay:
    from overlays.items import link_items
    from overlays.services import overlay_create
    from workshop.services import items_store_metadata
    from workshop.steam import fetch_metadata_batch

    overlay = overlay_create(owner=owner, name=f"download {steam_id}")  # type: ignore[arg-type]
    link_items(overlay=overlay, items=items_store_metadata(fetch_metadata_batch([steam_id])).values())
    return overlay


def speed_rounds(
    sources: dict[str, tuple[str, Overlay, str]], pool: int
) -> dict[str, list[tuple[float, float, float]]]:
    """RUNS interleaved rounds: per source, per round, (curl -o, curl -o + fsync, left4me) seconds."""
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in sources}
    for n in range(1, RUNS + 1):
        for name, (url, overlay, steam_id) in sources.items():
            os.sync()
            plain = curl_seconds(url, fsync=False)
            os.sync()
            synced = curl_seconds(url, fsync=True)
            os.sync()
            ours = left4me_seconds(overlay, steam_id)
            runs[name].append((plain, synced, ours))
            print(
                f"  round {n} {name:8} curl -o {plain:5.2f} s   curl -o + fsync {synced:5.2f} s   left4me {ours:5.2f} s"
                f"   ratios {plain / ours:.2f} / {synced / ours:.2f}   load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    return runs


def speed_report(name: str, runs: list[tuple[float, float, float]]) -> None:
    mib = SIZE / h.MiB
    plain, synced, ours = (statistics.median(r[k] for r in runs) for k in range(3))
    ratio_plain = statistics.median(r[0] / r[2] for r in runs)
    ratio_synced = statistics.median(r[1] / r[2] for r in runs)
    h.report(
        f"{name}: download of one {mib:.0f} MiB item, median of {len(runs)} interleaved rounds",
        [
            ("curl -o", f"{mib / plain:.0f} MiB/s  ({plain:.2f} s)", ""),
            ("curl -o + fsync", f"{mib / synced:.0f} MiB/s  ({synced:.2f} s)", ""),
            (
                "left4me download (log: downloading -> downloaded)",
                f"{mib / ours:.0f} MiB/s  ({ours:.2f} s)",
                "",
            ),
            ("ratio left4me / curl -o (median of the rounds' ratios)", f"{ratio_plain:.2f}", ">= 0.9"),
            (
                "ratio left4me / curl -o + fsync (median of the rounds' ratios)",
                f"{ratio_synced:.2f}",
                ">= 1.0",
            ),
            (
                "ratio of the medians: / curl -o, / curl -o + fsync",
                f"{plain / ours:.2f}, {synced / ours:.2f}",
                "",
            ),
            ("rounds below 0.9 of curl -o", str(sum(r[0] / r[2] < 0.9 for r in runs)), "0"),
        ],
    )


# --- a throttled link --------------------------------------------------------------------------


def slow_report(steam: FakeSteam, overlay: Overlay) -> None:
    """SLOW_RUNS interleaved rounds of curl -o, the build, and a download killed then resumed."""
    url = steam.file_url(SLOW_ID)
    rounds: list[tuple[float, float, int, float, float]] = []
    print(f"\n== {SIZE / h.MiB:.0f} MiB at {RATE / 1e6:.0f} MB/s per connection: every round")
    for n in range(1, SLOW_RUNS + 1):
        os.sync()
        plain = curl_seconds(url, fsync=False)
        os.sync()
        steam.reset_counters()
        ours = left4me_seconds(overlay, SLOW_ID)
        connections = steam.most_sending
        wasted, killed_at = kill_and_resume(steam, url)
        rounds.append((plain, ours, connections, wasted, killed_at))
        print(
            f"  round {n} curl -o {plain:5.1f} s   left4me {ours:5.1f} s over {connections} connections"
            f"   ratio {ours / plain:.2f}   killed at {killed_at:.0%}, bytes sent / size {wasted:.3f}",
            flush=True,
        )
    ratios = [r[1] / r[0] for r in rounds]
    h.report(
        f"{SIZE / h.MiB:.0f} MiB at {RATE / 1e6:.0f} MB/s per connection (stand-in), median of {len(rounds)} rounds",
        [
            ("curl -o wall", f"{statistics.median(r[0] for r in rounds):.1f} s", ""),
            (
                "left4me download wall (build by the worker)",
                f"{statistics.median(r[1] for r in rounds):.1f} s",
                "",
            ),
            (
                "ratio left4me / curl -o (median; worst)",
                f"{statistics.median(ratios):.2f}; {max(ratios):.2f}",
                "<= 0.35",
            ),
            (
                "killed at (recorded in the sidecar, median)",
                f"{statistics.median(r[4] for r in rounds):.0%}",
                "~50%",
            ),
            (
                "killed then resumed: bytes sent in all / file size (median; worst)",
                f"{statistics.median(r[3] for r in rounds):.3f}; {max(r[3] for r in rounds):.3f}",
                "<= 1.1",
            ),
        ],
    )


KILLED_DOWNLOAD = """
import sys
import django
django.setup()
from pathlib import Path
from workshop.downloads import download_with_retry
from workshop.steam import WorkshopMetadata
meta = WorkshopMetadata(steam_id=sys.argv[2], file_url=sys.argv[3], file_size=int(sys.argv[4]), time_updated=1700000000)
download_with_retry(meta, Path(sys.argv[1]))
"""


def kill_and_resume(steam: FakeSteam, url: str) -> tuple[float, float]:
    """(bytes the stand-in sent / file size, share recorded when killed)."""
    cache = h.ROOT / "kill-cache"
    sidecar = cache / f".{SLOW_ID}.vpk.part.json"
    shutil.rmtree(cache, ignore_errors=True)  # the last round's file
    steam.reset_counters()
    args = [sys.executable, "-c", KILLED_DOWNLOAD, str(cache), SLOW_ID, url, str(SIZE)]
    first = subprocess.Popen(args, cwd=h.REPO, env=dict(os.environ))
    done = 0
    while done < SIZE // 2:
        time.sleep(0.05)
        with contextlib.suppress(OSError, ValueError):
            done = sum(row[2] for row in json.loads(sidecar.read_text()).get("segments", []))
        if first.poll() is not None:
            raise SystemExit("the download ended before it could be killed")
    first.send_signal(signal.SIGKILL)
    first.wait()
    subprocess.run(args, cwd=h.REPO, env=dict(os.environ), check=True)
    if (cache / f"{SLOW_ID}.vpk").stat().st_size != SIZE:
        raise SystemExit("the resumed download is incomplete")
    with steam.lock:
        sent = steam.sent[SLOW_ID]
    return sent / SIZE, done / SIZE


def main() -> None:
    steam = h.start_steam()
    stand_in = steam.add_item(STAND_IN_ID, size=SIZE)
    nginx = nginx_binary()
    nginx_url = start_nginx(nginx, stand_in) if nginx else ""
    if nginx_url:
        steam.add_item(NGINX_ID, size=SIZE, file_url=nginx_url)
    steam.add_item(SLOW_ID, size=SIZE, rate_limit=RATE)
    h.setup()
    from django.contrib.auth.models import User

    from tests.support.workers import stop_worker, wait_for

    owner = User.objects.create_user("bench", password="bench-pw-1")
    sources = {"stand-in": (steam.file_url(STAND_IN_ID), overlay_of(owner, STAND_IN_ID), STAND_IN_ID)}
    if nginx_url:
        sources["nginx"] = (nginx_url, overlay_of(owner, NGINX_ID), NGINX_ID)
    slow_overlay = overlay_of(owner, SLOW_ID)

    h.report("machine", h.machine())
    print(f"\n== every round (load average at the start: {os.getloadavg()})")
    print(f"worker: WORKSHOP_SEGMENTS_PER_ITEM={SEGMENTS}")
    worker = h.start_quiet_worker(concurrency=1, WORKSHOP_SEGMENTS_PER_ITEM=SEGMENTS)
    try:
        children = wait_for(lambda: h.worker_children(worker.pid), timeout=60)
        assert isinstance(children, list)
        pool: int = children[0]
        time.sleep(2)  # the pool process has finished starting
        rss_before = h.proc_status_kib(pool, "VmRSS")
        runs = speed_rounds(sources, pool) if SPEED else {}
        if SLOW:
            slow_report(steam, slow_overlay)
        peak = h.proc_status_kib(pool, "VmHWM")
    finally:
        stop_worker(worker)
    for name, rounds in runs.items():
        speed_report(name, rounds)
    h.report(
        "worker memory (pool process, segmented downloads)",
        [
            ("VmRSS before the first job", f"{rss_before / 1024:.1f} MiB", ""),
            ("VmHWM after the jobs", f"{peak / 1024:.1f} MiB", ""),
            ("peak RSS growth while downloading", f"{(peak - rss_before) / 1024:.1f} MiB", "< 50 MiB"),
        ],
    )


if __name__ == "__main__":
    main()
