"""Waiting that a cancel cuts short; imports nothing of Django, so any library code may use it."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["sleep_with_cancel"]


def sleep_with_cancel(
    seconds: float, should_cancel: Callable[[], bool], *, poll_interval: float = 0.1
) -> bool:
    """Sleep up to `seconds`; True as soon as `should_cancel()` says so, False after a full sleep."""
    deadline = time.monotonic() + seconds
    while True:
        if should_cancel():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(poll_interval, remaining))
