"""The watch over one download attempt: cancel, a stall and the deadline end it within a second,
whatever the server does (answers nothing, trickles, stops mid-body).

A blocking read looks at nothing while it waits, and a short socket timeout does not help:
http.client's socket file cannot be read again after one timeout, so every quiet second would
cost the connection. So the attempt's I/O stays plain blocking code in the download thread and a
watch thread looks every WATCH_INTERVAL seconds:

- cancel: ``should_cancel()`` (a job's answers from the database at most twice a second);
- stall: fewer than WORKSHOP_MIN_BYTES_PER_SECOND x WORKSHOP_STALL_SECONDS bytes arrived over the
  last WORKSHOP_STALL_SECONDS (the time from the request on counts: waiting for headers too), or
  fewer than the bytes that were left to fetch, when they are fewer;
- the deadline (:func:`attempt_deadline`), a bound on the attempt as a whole.

When one holds, it records why and shuts the attempt's sockets down: shutdown(2) wakes a connect,
a TLS handshake or a read blocked in another thread at once. The download thread's request or
read then fails, and the attempt raises the watch's why instead of that network error. The
sockets are attached by workshop.fetch before they connect (duplicated here, so a socket
the TLS layer took over, or one already closed, is still this attempt's own and nobody else's).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from left4me.units import human_bytes
from workshop.fetch import watching

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 0.25
# Beyond the time the bytes take at the least rate: slack for a server that starts slowly.
DEADLINE_GRACE_SECONDS = 30.0


def attempt_deadline(bytes_to_fetch: int) -> float:
    """Seconds one attempt may last at most:

        WORKSHOP_CONNECT_TIMEOUT + bytes_to_fetch / WORKSHOP_MIN_BYTES_PER_SECOND
        + WORKSHOP_STALL_SECONDS + DEADLINE_GRACE_SECONDS

    (100 MiB with the defaults: 10 + 3200 + 30 + 30 s). An attempt the stall check lets through
    gets at least the least rate over every window, so it ends before this; the deadline holds
    all the same, whatever the rate checks miss."""
    rate = float(settings.WORKSHOP_MIN_BYTES_PER_SECOND)
    return (
        float(settings.WORKSHOP_CONNECT_TIMEOUT)
        + max(0, bytes_to_fetch) / rate
        + float(settings.WORKSHOP_STALL_SECONDS)
        + DEADLINE_GRACE_SECONDS
    )


def stall_why() -> str:
    rate = human_bytes(settings.WORKSHOP_MIN_BYTES_PER_SECOND)
    return f"stalled: under {rate}/s for {settings.WORKSHOP_STALL_SECONDS:g} s"


@dataclass(frozen=True)
class Trip:
    """Why the watch ended the attempt: a cancel, or a failure worth another attempt."""

    cancelled: bool
    why: str


class AttemptWatch:
    """Watches one attempt while the ``with`` block runs; ``tripped`` says why it ended it.

    The download thread reports each piece of body with :meth:`add_bytes`."""

    def __init__(
        self,
        *,
        should_cancel: Callable[[], bool],
        bytes_to_fetch: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._should_cancel = should_cancel
        self._clock = clock
        self._left = bytes_to_fetch
        self._rate = int(settings.WORKSHOP_MIN_BYTES_PER_SECOND)
        self._window = float(settings.WORKSHOP_STALL_SECONDS)
        self._limit = attempt_deadline(bytes_to_fetch)
        self._started = clock()
        self._got = 0
        self._samples: deque[tuple[float, int]] = deque([(self._started, 0)])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workshop-download-watch", daemon=True)
        self._watching = watching(self)
        self.tripped: Trip | None = None

    def __enter__(self) -> AttemptWatch:
        self._watching.__enter__()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()
        self._watching.__exit__(None, None, None)
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def attach(self, sock: socket.socket) -> None:
        """A socket of this attempt: shut down when the watch trips (at once if it has)."""
        own = socket.fromfd(sock.fileno(), sock.family, sock.type)
        with self._lock:
            self._sockets.append(own)
            if self.tripped is not None:
                _shut(own)

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self._got += n

    def check(self) -> Trip | None:
        """Why the attempt must end now, if it must."""
        now = self._clock()
        if self._should_cancel():
            return Trip(cancelled=True, why="cancelled")
        with self._lock:
            got = self._got
        if now - self._started >= self._limit:
            return Trip(False, f"deadline passed: {got} of {self._left} bytes in {self._limit:.0f} s")
        return Trip(False, stall_why()) if self._stalled(now, got) else None

    def _stalled(self, now: float, got: int) -> bool:
        self._samples.append((now, got))
        window_start = now - self._window
        if window_start < self._started:
            return False
        while len(self._samples) > 1 and self._samples[1][0] <= window_start:
            self._samples.popleft()
        _at, before = self._samples[0]
        return got - before < min(self._rate * self._window, self._left - before)

    def _run(self) -> None:
        try:
            while not self._done.wait(WATCH_INTERVAL):
                trip = self.tripped or self._check_quietly()
                if trip is not None:
                    # Again every time: a socket that was not connecting yet at the first try.
                    self._trip(trip)
        finally:
            connections.close_all()  # only this thread's: a job's should_cancel reads the database

    def _check_quietly(self) -> Trip | None:
        try:
            return self.check()
        except Exception:  # a database hiccup in should_cancel: look again next time
            logger.warning("download watch: check failed", exc_info=True)
            return None

    def _trip(self, trip: Trip) -> None:
        with self._lock:
            self.tripped = trip
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected yet, or already gone
        sock.shutdown(socket.SHUT_RDWR)
