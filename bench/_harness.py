"""Shared set-up for the benchmarks: a throwaway LEFT4ME_ROOT, a migrated SQLite database and a
private Redis, all removed on exit. Import it before anything that reads Django settings."""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported for real inside the functions, once setup() has configured Django
    from jobs.models import Job
    from overlays.models import Overlay
    from tests.support.fakesteam import FakeSteam
    from tests.support.forked import ForkedWorker
    from workshop.models import WorkshopItem

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ROOT = Path(tempfile.mkdtemp(prefix="left4me-bench-", dir=os.environ.get("BENCH_TMPDIR")))


CACHED_FILE_SIZE = 1000
CACHED_TIME_UPDATED = 1_700_000_000


def setup(*, redis: bool = True, database_dir: str | None = None) -> None:
    """`database_dir`: put the SQLite file in a fresh folder under it (e.g. /dev/shm, so disk
    write counters see only what the code under test writes) instead of in ROOT."""
    os.environ["LEFT4ME_ROOT"] = str(ROOT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "left4me.settings"
    os.environ.pop("DATABASE_URL", None)
    if database_dir is not None:
        folder = tempfile.mkdtemp(prefix="left4me-bench-db-", dir=database_dir)
        atexit.register(shutil.rmtree, folder, True)
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/left4me.sqlite3"
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    atexit.register(_remove_root)
    if redis:
        from tests.support.redisproc import start_private_redis, stop_private_redis

        proc, os.environ["CELERY_BROKER_URL"] = start_private_redis(ROOT / "redis")
        atexit.register(stop_private_redis, proc)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


_keep = False


def keep_root() -> None:
    """Leave ROOT (its logs, database and cache) in place for a look after a failed run."""
    global _keep
    _keep = True


def _remove_root() -> None:
    if not _keep:
        shutil.rmtree(ROOT, ignore_errors=True)


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    start = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - start


def median_ms(fn: Callable[[], object], *, runs: int) -> float:
    samples: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(title: str, rows: list[tuple[str, str, str]]) -> None:
    """Print figures as `name: value (target: …)` lines under a title."""
    print(f"\n== {title}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, target in rows:
        suffix = f"   (target {target})" if target else ""
        print(f"  {name.ljust(width)}  {value}{suffix}")


# --- shared by the benchmarks that use the fake Steam and real workers ---------------------------

MiB = 2**20


def start_steam(*, rate_limit: int | None = None, api_latency: float = 0.0) -> FakeSteam:
    """A FakeSteam on loopback whose URL the settings (and every worker) use; call before setup()."""
    from tests.support.fakesteam import FakeSteam

    steam = FakeSteam(rate_limit=rate_limit, api_latency=api_latency).start()
    atexit.register(steam.stop)
    os.environ["STEAM_API_BASE_URL"] = steam.base_url
    os.environ["WORKSHOP_DOWNLOAD_HOSTS"] = steam.host  # the stand-in serves the files too
    return steam


def start_quiet_worker(*, concurrency: int = 2, gossip: bool = False, **env: str) -> ForkedWorker:
    """tests.support.workers.start_worker with the worker's output in ROOT/worker-N.log, not on the terminal."""
    from tests.support.workers import start_worker

    log = open(ROOT / f"worker-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115 (the worker keeps it)
    saved = os.dup(1), os.dup(2)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        return start_worker(concurrency=concurrency, gossip=gossip, **env)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        log.close()


def atexit_kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc`` (a server the benchmark started) when the benchmark exits."""

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)

    atexit.register(stop)


def worker_children(pid: int) -> list[int]:
    """The pool processes of a Celery worker: the children of its main process."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def proc_status_kib(pid: int, field: str) -> int:
    """A `VmRSS`/`VmHWM`-style field of /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def wait_job(job_id: int, *, timeout: float = 600.0) -> Job:
    """The Job row once it reached a final state."""
    from jobs.models import Job
    from tests.support.workers import wait_for

    job = wait_for(
        lambda: Job.objects.filter(pk=job_id, state__in=Job.FINAL_STATES).first(),
        timeout=timeout,
        interval=0.05,
    )
    assert isinstance(job, Job)
    return job


def machine() -> list[tuple[str, str, str]]:
    """Rows describing where the figures were taken."""
    import platform

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    mem_kib = int(
        next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    )
    fs = subprocess.run(
        ["df", "--output=source,fstype,target", str(ROOT)], capture_output=True, text=True
    ).stdout.split("\n")[1:2]
    return [
        ("cpus", f"{os.cpu_count()} x {cpu}", ""),
        ("ram", f"{mem_kib / 2**20:.1f} GiB", ""),
        ("python", platform.python_version(), ""),
        ("temp dir", f"{ROOT} on {' '.join(fs[0].split()) if fs else '?'} (source fstype mount)", ""),
    ]


def seed_cached_items(
    overlay: Overlay, first_id: int, count: int, *, title: str = "Item {sid}"
) -> list[WorkshopItem]:
    """`count` items linked to `overlay`, each with a cache file of the right size and mtime (a
    sparse 1,000-byte file), as if a build had downloaded them; their file_url is never fetched."""
    from django.conf import settings
    from django.utils import timezone

    from overlays.models import OverlayWorkshopItem
    from workshop.models import WorkshopItem

    now = timezone.now()
    settings.WORKSHOP_CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    items = []
    for n in range(count):
        sid = str(first_id + n)
        items.append(
            WorkshopItem(
                steam_id=sid,
                title=title.format(sid=sid, n=n),
                filename=f"myl4d2addons/item_{sid}.vpk",
                file_url=f"http://127.0.0.1:9/files/{sid}",
                file_size=CACHED_FILE_SIZE,
                time_updated=CACHED_TIME_UPDATED,
                preview_url=f"http://127.0.0.1:9/previews/{sid}.png",
                consumer_app_id=550,
                steam_result=1,
                last_checked_at=now,
                last_downloaded_at=now,
                cached_version=CACHED_TIME_UPDATED,
            )
        )
        path = settings.WORKSHOP_CACHE_ROOT / f"{sid}.vpk"
        with open(path, "wb") as fh:
            fh.truncate(CACHED_FILE_SIZE)
        os.utime(path, (CACHED_TIME_UPDATED, CACHED_TIME_UPDATED))
    WorkshopItem.objects.bulk_create(items, batch_size=1000)
    OverlayWorkshopItem.objects.bulk_create(
        [OverlayWorkshopItem(overlay=overlay, item=item) for item in items], batch_size=1000
    )
    return items
