"""Shared set-up for the benchmarks: a throwaway LEFT4ME_ROOT, a migrated SQLite database and a
private Redis, all removed on exit. Import it before anything that reads Django settings."""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ROOT = Path(tempfile.mkdtemp(prefix="left4me-bench-", dir=os.environ.get("BENCH_TMPDIR")))


def setup(*, redis: bool = True) -> None:
    os.environ["LEFT4ME_ROOT"] = str(ROOT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "left4me.settings"
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    atexit.register(shutil.rmtree, ROOT, True)
    if redis:
        from left4me.redisproc import start_private_redis, stop_private_redis

        proc, os.environ["CELERY_BROKER_URL"] = start_private_redis(ROOT / "redis")
        atexit.register(stop_private_redis, proc)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    start = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - start


def median_ms(fn: Callable[[], object], *, runs: int) -> float:
    samples = []
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
