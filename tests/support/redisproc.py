"""A private redis-server on a free loopback port, for the test suite and the benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_private_redis(data_dir: Path, *, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start redis-server with its files in `data_dir` (on a free port unless given); return the
    process and its URL."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError(
            "redis-server is not installed: run `make setup` (or apt-get install redis-server)"
        )
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)]
    proc = subprocess.Popen([*cmd, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("private redis-server did not start")


def stop_private_redis(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
