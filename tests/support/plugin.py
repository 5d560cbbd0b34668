"""pytest plugin (loaded by pytest.ini before Django reads settings): a private LEFT4ME_ROOT and a
private Redis for the whole session, so every test, and every worker process a test starts, sees
the same isolated paths and broker.

Under pytest-xdist (`make test` runs three processes) each process imports this anew: each gets its
own root and Redis. A private PostgreSQL cluster is started once, by the main process, and the
xdist processes inherit its URL through LEFT4ME_TEST_DATABASE_URL; pytest-django gives each
its own test database on it (test_left4me_gw0, _gw1, _gw2). Tests that share a costly set-up run in
one process (SHARED_SET_UP); every other test goes to whichever process is free.
"""

from __future__ import annotations

import gc
import multiprocessing.util
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.pgproc import Cluster, start_private_postgres, stop_private_postgres
from tests.support.redisproc import start_private_redis, stop_private_redis


def _temp_on_tmpfs() -> Path | None:
    """The session's temporary files (roots, databases, tmp_path, the install tests' venvs, and
    those of every process the tests start) go on /dev/shm when it is a writable tmpfs with room:
    the suite writes and removes some 100,000 files, which a busy disk turns into minutes.
    TMPDIR set by the caller wins; the xdist processes inherit the main process's."""
    shm = Path("/dev/shm")
    if os.environ.get("TMPDIR") or not (shm.is_dir() and os.access(shm, os.W_OK)):
        return None
    if shutil.disk_usage(shm).free < _TMPFS_ROOM:
        return None
    base = Path(tempfile.mkdtemp(prefix="left4me-tests-", dir=shm))
    base.chmod(0o711)  # a private PostgreSQL runs as its own user, under this folder
    os.environ["TMPDIR"] = tempfile.tempdir = str(base)
    return base


_TMPFS_ROOM = 6 * 2**30  # the largest test writes ~1 GiB; three processes, and chromium's share
_TEMP_BASE = _temp_on_tmpfs()
_ROOT = Path(tempfile.mkdtemp(prefix="left4me-test-"))
os.environ["LEFT4ME_ROOT"] = str(_ROOT)
# SQLite under the private root, unless LEFT4ME_TEST_DATABASE_URL names a server, or
# LEFT4ME_TEST_POSTGRES=1 asks for a private PostgreSQL cluster for the session.
os.environ.pop("DATABASE_URL", None)
_postgres: Cluster | None = None
if os.environ.get("LEFT4ME_TEST_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["LEFT4ME_TEST_DATABASE_URL"]
elif os.environ.get("LEFT4ME_TEST_POSTGRES", "") not in ("", "0"):
    try:
        _postgres = start_private_postgres()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        raise pytest.UsageError(f"private PostgreSQL did not start: {exc}") from None
    os.environ["DATABASE_URL"] = os.environ["LEFT4ME_TEST_DATABASE_URL"] = _postgres.url
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
_redis_proc: subprocess.Popen | None = None

if os.environ.get("LEFT4ME_TEST_BROKER_URL"):
    os.environ["CELERY_BROKER_URL"] = os.environ["LEFT4ME_TEST_BROKER_URL"]
else:
    try:
        _redis_proc, os.environ["CELERY_BROKER_URL"] = start_private_redis(_ROOT / "redis")
    except RuntimeError as exc:
        raise pytest.UsageError(str(exc)) from None
os.environ.pop("CELERY_RESULT_BACKEND", None)


def restart_private_redis(*, kill: bool = False, down_seconds: float = 0.0) -> None:
    """Stop the session's Redis (SIGTERM, or SIGKILL with `kill`), leave it down `down_seconds`,
    and start it again on the same port (its queues start empty)."""
    global _redis_proc
    if _redis_proc is None:
        raise RuntimeError("the suite runs against LEFT4ME_TEST_BROKER_URL, not a private Redis")
    port = int(os.environ["CELERY_BROKER_URL"].rsplit(":", 1)[1].split("/")[0])
    if kill:
        _redis_proc.kill()
        _redis_proc.wait()
    else:
        stop_private_redis(_redis_proc)
    time.sleep(down_seconds)
    _redis_proc, _ = start_private_redis(_ROOT / "redis", port=port)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis_proc is not None:
        stop_private_redis(_redis_proc)
    if _postgres is not None:
        stop_private_postgres(_postgres)
    shutil.rmtree(_ROOT, ignore_errors=True)
    if _TEMP_BASE is not None:  # made by this process (the xdist ones found TMPDIR set)
        # At exit, after multiprocessing removed its own folder in there (the fork server of
        # tests.support.forked keeps its socket in it).
        multiprocessing.util.Finalize(
            None, shutil.rmtree, args=(_TEMP_BASE,), kwargs={"ignore_errors": True}, exitpriority=-200
        )


def pytest_configure(config: pytest.Config) -> None:
    # A test process makes objects by the million (querysets, responses, test data): the garbage
    # collector looks at its young objects every 50,000 allocations instead of 700 (its full
    # collections took 4.4 s to 5.5 s of a 115 s run of the overlays and workshop tests, 0.6 s so).
    gc.set_threshold(50_000, 20, 20)


def pytest_collection_finish(session: pytest.Session) -> None:
    # What collection imported (Django, the apps, the test modules) lives to the end: frozen, no
    # collection walks it again.
    gc.freeze()


# Tests whose module or package fixtures cost seconds: the browser suite (chromium, a worker and
# the fake Steam, once for the package) and the install tests (a fresh venv and pip install).
SHARED_SET_UP = ("tests/browser/", "deploy/tests/test_install.py")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The install tests first, as they take longest and use no database; the rest in
    pytest-django's order, which puts transactional tests (their flush empties what migrations
    made, such as the Operators group) after the tests that read it."""
    items.sort(key=lambda item: not item.nodeid.startswith("deploy/tests/test_install.py"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's load scheduling in collection order (each process runs its tests in that order),
    except that each SHARED_SET_UP path is one unit of work for one process. (xdist_group marks
    would say the same, but xdist does not apply them under this pytest.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedSetUpScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((path for path in SHARED_SET_UP if nodeid.startswith(path)), nodeid)

    config.option.loadscopereorder = False  # largest unit first would run transactional tests early
    return SharedSetUpScheduling(config, log)
