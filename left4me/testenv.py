"""pytest plugin (loaded by pytest.ini before Django reads settings): a private LEFT4ME_ROOT and a private Redis for the whole session.

Both are made before Django reads its settings, so every test (and every worker process a
test starts) sees the same isolated paths and broker.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

_ROOT = Path(tempfile.mkdtemp(prefix="left4me-test-"))
os.environ["LEFT4ME_ROOT"] = str(_ROOT)
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
# Registers the job tasks that only tests use (jobs/testtasks.py), in this process and in workers.
os.environ["LEFT4ME_TEST_TASKS"] = "1"
_redis_proc: subprocess.Popen | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_private_redis() -> str:
    global _redis_proc
    server = shutil.which("redis-server")
    if server is None:
        raise pytest.UsageError("redis-server is not installed: run the tests with `make test`")
    port = _free_port()
    data = _ROOT / "redis"
    data.mkdir()
    _redis_proc = subprocess.Popen(
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("private redis-server did not start")


os.environ["CELERY_BROKER_URL"] = os.environ.get("LEFT4ME_TEST_BROKER_URL") or _start_private_redis()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis_proc is not None:
        _redis_proc.terminate()
        _redis_proc.wait(timeout=10)
    shutil.rmtree(_ROOT, ignore_errors=True)
