"""A private PostgreSQL cluster in a temporary folder on a free loopback port, for the suite
(`LEFT4ME_TEST_POSTGRES=1`) and the benchmarks: the database a fleet of hosts shares."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.redisproc import free_port

SUPERUSER = "left4me_test"


@dataclass
class Cluster:
    data_dir: Path
    port: int
    bin_dir: Path
    run_as: str | None  # the system user PostgreSQL runs as when we are root

    @property
    def url(self) -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/left4me"


def _bin_dir() -> Path:
    """The newest installed server's programs (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        raise RuntimeError(
            "PostgreSQL is not installed: apt-get install postgresql (make test does it as root)"
        )
    return Path(pg_ctl).parent


def _run(cluster_bin: Path, run_as: str | None, *args: str) -> None:
    cmd = [str(cluster_bin / args[0]), *args[1:]]
    if run_as is not None:
        cmd = ["runuser", "-u", run_as, "--", *cmd]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_private_postgres() -> Cluster:
    """initdb + start a throwaway cluster (trust auth on 127.0.0.1 only, no Unix socket, fsync off)."""
    bin_dir = _bin_dir()
    run_as = "postgres" if os.geteuid() == 0 else None  # the server refuses to run as root
    data_dir = Path(tempfile.mkdtemp(prefix="left4me-pg-"))
    if run_as is not None:
        account = pwd.getpwnam(run_as)
        os.chown(data_dir, account.pw_uid, account.pw_gid)
    _run(bin_dir, run_as, "initdb", "-D", str(data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8")
    port = free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
    options += " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    _run(
        bin_dir,
        run_as,
        "pg_ctl",
        "-D",
        str(data_dir),
        "-o",
        options,
        "-w",
        "-t",
        "60",
        "-l",
        str(data_dir / "log"),
        "start",
    )
    cluster = Cluster(data_dir=data_dir, port=port, bin_dir=bin_dir, run_as=run_as)
    _wait_until_ready(cluster)
    return cluster


def _wait_until_ready(cluster: Cluster) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=cluster.port, user=SUPERUSER, dbname="postgres").close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_private_postgres(cluster: Cluster) -> None:
    try:
        _run(
            cluster.bin_dir, cluster.run_as, "pg_ctl", "-D", str(cluster.data_dir), "-m", "immediate", "stop"
        )
    finally:
        shutil.rmtree(cluster.data_dir, ignore_errors=True)
