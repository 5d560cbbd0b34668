"""`make run`'s last word: what ensure_admin said on a first start (the admin's password), in a
framed block once the web server, both workers and beat answer, so it is not lost in their logs."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from left4me.beat import BEAT_LOCK_KEY
from left4me.health import heartbeat_ages, redis_client

POLL_SECONDS = 1.0


def web_answers(bind: str) -> bool:
    """The web server answers /healthz (ok or not: it is up)."""
    host, _, port = bind.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "*") else host.strip("[]")
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # 503: up, something else is not yet
    except (OSError, ValueError):
        return False


def workers_up() -> bool:
    """The worker and the housekeeping worker have written their heartbeats."""
    names = list(heartbeat_ages())
    return any(name.startswith("housekeeping@") for name in names) and any(
        not name.startswith("housekeeping@") for name in names
    )


def beat_up() -> bool:
    return bool(redis_client().exists(BEAT_LOCK_KEY))


def framed(lines: list[str]) -> str:
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line.ljust(width)} |" for line in lines), rule])


class Command(BaseCommand):
    help = "Wait until left4me is up (web, workers, beat), then print LEFT4ME_ADMIN_NOTE in a frame."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("LEFT4ME_BIND", "127.0.0.1:8000"))
        parser.add_argument("--pid", type=int, help="give up when this process (honcho) is gone")
        parser.add_argument("--timeout", type=float, default=180.0)

    def handle(self, *args: Any, bind: str, pid: int | None, timeout: float, **options: Any) -> None:
        note = [line for line in os.environ.get("LEFT4ME_ADMIN_NOTE", "").splitlines() if line.strip()]
        if not note:
            return
        checks: list[Callable[[], bool]] = [lambda: web_answers(bind), workers_up, beat_up]
        up = wait_until(checks, pid=pid, timeout=timeout)
        if pid and not _alive(pid):
            return  # stopped meanwhile: nothing to log in to
        head = f"left4me is up at http://{bind}/" if up else "left4me is not fully up yet: see the logs above"
        user = note_user(note) or os.environ.get("LEFT4ME_ADMIN_USER", "admin")
        lines = [
            head,
            *note,
            f"Log in at http://{bind}{settings.LOGIN_URL}",
            f"A new password: .venv/bin/python manage.py changepassword {user}",
        ]
        self.stdout.write("\n" + framed(lines) + "\n")


def wait_until(checks: list[Callable[[], bool]], *, pid: int | None, timeout: float) -> bool:
    """True once every check passes; False when `timeout` passes first or process `pid` ends."""
    deadline = time.monotonic() + timeout
    while not all(_answers(check) for check in checks):
        if (pid and not _alive(pid)) or time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def note_user(note: list[str]) -> str:
    """The username in ensure_admin's "created admin account: username=…" line."""
    for line in note:
        if "username=" in line:
            return line.split("username=", 1)[1].split()[0]
    return ""


def _answers(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:  # Redis not up yet, and the like: not yet
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
