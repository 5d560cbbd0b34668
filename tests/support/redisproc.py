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
    process and its URL. A free port another process takes first (test processes start side by
    side) is tried again with another."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError(
            "redis-server is not installed: run `make setup` (or apt-get install redis-server)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(1 if port else 5):
        chosen = port or free_port()
        cmd = [server, "--bind", "127.0.0.1", "--port", str(chosen), "--dir", str(data_dir)]
        proc = subprocess.Popen([*cmd, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        if _answers_as(proc, chosen):
            return proc, f"redis://127.0.0.1:{chosen}/0"
        stop_private_redis(proc)
    raise RuntimeError("private redis-server did not start")


def _answers_as(proc: subprocess.Popen, port: int) -> bool:
    """True once the Redis on `port` answers and is `proc` (not another process's on that port)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"INFO server\r\n")
                reply = b""
                while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
            return f"process_id:{proc.pid}\r\n".encode() in reply
        except OSError:
            time.sleep(0.05)
    return False


def stop_private_redis(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
