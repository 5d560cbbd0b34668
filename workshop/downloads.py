"""Downloading workshop ``.vpk`` files into the shared cache: streaming, resumable, never corrupt.

A download streams into the item's partial file (its sidecar records which upload it belongs
to, so a later attempt can resume it with ``Range``), then is fsynced and renamed into place: a
file under the final name is always complete (layout in workshop.cache). Items are anything
with ``steam_id``, ``file_url``, ``file_size`` and ``time_updated`` (WorkshopMetadata or
WorkshopItem). The caller watches and steers through one DownloadHooks object (a running job's
context is one). An item larger than WORKSHOP_SEGMENT_MIN_BYTES comes as byte ranges fetched
in parallel into one preallocated partial (workshop.segments), each range resumed and retried
on its own.

Each attempt (of each range) runs under a workshop.watch.AttemptWatch: a cancel ends it within a second, and it
fails (retryable) when it stalls (``stalled: under 32.0 KiB/s for 30 s``) or outlives its
deadline (``deadline passed: ...``), whatever the server does.

The retry policy runs inside the build job rather than as Celery task retries, because the
build needs the attempt lines in its own log, a cancel that ends a backoff at once, and the
items that did download even when another failed. The schedule is Celery's own formula.
"""

from __future__ import annotations

import enum
import errno
import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests
import urllib3
from django.conf import settings
from django.db import connections

from left4me import counters
from left4me.cancel import sleep_with_cancel
from workshop.cache import Upload, cache_path, is_cached, item_lock_file, keep_version, partial_path
from workshop.fetch import DownloadRefused, TooManyRedirects, get_file
from workshop.retry import retry_delay, transient_wait
from workshop.segments import (
    AnySlots,
    ConnectionSlots,
    Segment,
    SegmentProgress,
    segmented,
    segments_from_stamp,
    split,
    stamp_tmp,
    write_stamp,
)
from workshop.steam import request_timeout
from workshop.vpk import NotAVpk, vpk_check
from workshop.watch import AttemptWatch, Trip

CHUNK_SIZE = 2**20
# Written bytes are handed to the disk every this many, so the fsync before the rename waits
# for the tail of the file only (a 1 GiB item on a fast link: ~0.4 s less) and a big item does
# not push the rest of the page cache out.
WRITEBACK_BYTES = 32 * 2**20
LOCK_POLL_SECONDS = 0.1
PERMANENT_STATUSES = {403, 404, 410}


class DownloadHooks(Protocol):
    """How a download is watched and steered; called from download threads, so thread-safe."""

    def should_cancel(self) -> bool: ...

    def add_bytes(self, n: int) -> None: ...

    def log_stderr(self, text: str) -> None: ...


class NoHooks:
    """Nobody watching: never cancelled, progress and log dropped."""

    def should_cancel(self) -> bool:
        return False

    def add_bytes(self, n: int) -> None:
        return None

    def log_stderr(self, text: str) -> None:
        return None


NO_HOOKS = NoHooks()


class DownloadCancelled(Exception):
    """The job was cancelled; nothing complete was removed."""


class DownloadFailed(Exception):
    """The download cannot finish; ``str()`` is why (``HTTP 404``, ``short body: got X of Y bytes``,
    ``download refused: <host> is not a Steam file host``...)."""


class DownloadRetryable(DownloadFailed):
    """One attempt failed in a way another attempt may not (network, 5xx, 429, short body)."""

    def __init__(self, why: str, *, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


class DownloadStatus(enum.StrEnum):
    DOWNLOADED = "downloaded"
    CACHED = "cached"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class DownloadOutcome:
    status: DownloadStatus
    error: str = ""  # the why, for FAILED and SKIPPED
    transient: bool = False  # FAILED on a retryable error every attempt: a later build may succeed

    @property
    def in_cache(self) -> bool:
        return self.status in (DownloadStatus.DOWNLOADED, DownloadStatus.CACHED)


# --- the partial file ------------------------------------------------------------------------


def discard_partial(cache_root: Path, steam_id: str) -> None:
    part = partial_path(cache_root, steam_id)
    part.unlink(missing_ok=True)
    _stamp_path(part).unlink(missing_ok=True)
    stamp_tmp(_stamp_path(part)).unlink(missing_ok=True)  # a kill while the sidecar was rewritten


def _stamp_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _stamp(meta: Upload) -> dict[str, int]:
    return {"time_updated": int(meta.time_updated), "file_size": int(meta.file_size)}


def _read_stamp(part: Path) -> tuple[int, object]:
    """(the partial's size, its sidecar), or (0, None) when either is missing or unreadable."""
    try:
        return part.stat().st_size, json.loads(_stamp_path(part).read_text())
    except (OSError, ValueError):
        return 0, None


def _plan(meta: Upload, root: Path) -> int | list[Segment]:
    """What to fetch: the offset to resume a single stream from, or the item's ranges (their
    progress read from the sidecar). A partial of another upload is replaced by a fresh one."""
    part = partial_path(root, meta.steam_id)
    have, stamp = _read_stamp(part)
    if isinstance(stamp, dict) and {k: stamp.get(k) for k in ("time_updated", "file_size")} == _stamp(meta):
        if "segments" not in stamp and 0 < have < meta.file_size:
            return have
        segments = segments_from_stamp(stamp, meta.file_size)
        if segments is not None and have == meta.file_size:
            return segments
    discard_partial(root, meta.steam_id)
    if not segmented(meta.file_size):
        write_stamp(_stamp_path(part), _stamp(meta))
        return 0
    return _new_segmented_partial(meta, part)


def _new_segmented_partial(meta: Upload, part: Path) -> list[Segment]:
    """An empty partial as large as the item (preallocated: a full disk shows now, not halfway)."""
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        try:
            os.posix_fallocate(fd, 0, meta.file_size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            os.ftruncate(fd, meta.file_size)  # a file system without fallocate
    finally:
        os.close(fd)
    segments = split(meta.file_size)
    write_stamp(_stamp_path(part), {**_stamp(meta), "segments": [[s.start, s.end, 0] for s in segments]})
    return segments


# --- one attempt -------------------------------------------------------------------------------


def download_to_cache(
    meta: Upload,
    cache_root: Path,
    hooks: DownloadHooks = NO_HOOKS,
    *,
    slots: ConnectionSlots | None = None,
    segment_attempts: int = 1,
) -> Path:
    """One attempt to put this upload of the item in the cache; its path.

    Does nothing when it is cached already. ``hooks.add_bytes(n)`` gets the number of new
    bytes after each chunk. Raises DownloadRetryable (keeps a clean partial to resume),
    DownloadFailed (partial removed) or DownloadCancelled (partial kept). Callers that may
    race for one item hold :func:`item_lock` (download_with_retry does). A segmented item's
    ranges take their extra connections from ``slots`` and each gets ``segment_attempts``
    attempts of its own (the ranges that came are not asked again).
    """
    root = Path(cache_root)
    final = cache_path(root, meta.steam_id)
    if is_cached(meta, root):
        return final
    if hooks.should_cancel():
        raise DownloadCancelled()
    if not meta.file_url:
        raise DownloadFailed("no file_url")
    root.mkdir(parents=True, exist_ok=True)
    fetch = _Fetch(meta, root, hooks, slots or AnySlots(), max(1, segment_attempts))
    try:
        fetch.into_partial()
        _check_vpk_or_fetch_again(fetch)
        _install(root, meta.steam_id, partial_path(root, meta.steam_id), final)
    except DownloadRetryable:
        raise
    except DownloadFailed:
        discard_partial(root, meta.steam_id)
        raise
    except OSError as exc:
        discard_partial(root, meta.steam_id)
        raise DownloadFailed(_disk_why(exc)) from exc
    return final


class _RangeIgnored(Exception):
    """The server answered a range request with the whole file (200)."""


@dataclass(frozen=True)
class _Fetch:
    """Fetching one upload into its partial file: as one stream, or as ranges in parallel."""

    meta: Upload
    root: Path
    hooks: DownloadHooks
    slots: ConnectionSlots
    segment_attempts: int

    @property
    def part(self) -> Path:
        return partial_path(self.root, self.meta.steam_id)

    def into_partial(self) -> None:
        plan = _plan(self.meta, self.root)
        if isinstance(plan, int):
            return self.single(plan)
        try:
            _Segments(self, plan).run()
        except _RangeIgnored:
            self.hooks.log_stderr(f"workshop {self.meta.steam_id}: the server ignores Range, one stream")
            discard_partial(self.root, self.meta.steam_id)
            write_stamp(_stamp_path(self.part), _stamp(self.meta))
            self.single(0)
        return None

    def single(self, offset: int) -> None:
        """One stream from ``offset`` to the end of the file."""
        meta, should_cancel = self.meta, self.hooks.should_cancel
        with _watched(should_cancel, meta.file_size - offset) as watch, _get(meta, offset) as response:
            offset = _accepted_offset(response, meta, self.root, offset)
            flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (0 if offset else os.O_TRUNC)
            fd = os.open(self.part, flags, 0o644)
            try:
                _stream(response, fd, offset, meta.file_size, watch, should_cancel, self.hooks.add_bytes)
                _finish(fd, meta)
            finally:
                os.close(fd)


class _Segments:
    """The missing ranges of one partial, each fetched over a connection of its own and retried
    alone. The first one asked shows whether the server honours Range before the others start."""

    def __init__(self, fetch: _Fetch, segments: list[Segment]) -> None:
        self.fetch = fetch
        self.progress = SegmentProgress(_stamp_path(fetch.part), _stamp(fetch.meta), segments)
        self.stop = threading.Event()  # a range failed for good: the others end too
        self.ranges_ok = threading.Event()
        self.fd = -1

    def should_stop(self) -> bool:
        return self.stop.is_set() or self.fetch.hooks.should_cancel()

    def run(self) -> None:
        missing = [i for i, s in enumerate(self.progress.segments) if s.missing]
        extra = self.fetch.slots.take(len(missing) - 1) if missing else 0
        self.fd = os.open(self.fetch.part, os.O_WRONLY | os.O_CLOEXEC)
        try:
            if missing:
                self._fetch_all(missing, 1 + extra)
            _finish(self.fd, self.fetch.meta)
        finally:
            self.fetch.slots.give(extra)
            os.close(self.fd)
            self.progress.save()

    def _fetch_all(self, missing: list[int], connections: int) -> None:
        with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="workshop-segment") as pool:
            first = pool.submit(self._segment, missing[0])
            while not self.ranges_ok.wait(0.05) and not first.done():
                pass
            futures = [first]
            if self.ranges_ok.is_set():
                futures += [pool.submit(self._segment, i) for i in missing[1:]]
            wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.done() and f.exception() is not None for f in futures):
                self.stop.set()
            wait(futures)
        _raise_first_failure(futures)

    def _segment(self, index: int) -> None:
        """One range, attempted until it came, failed for good or was stopped."""
        try:
            self._attempts(index)
        finally:
            connections.close_all()  # only this thread's: the hooks may have touched the database

    def _attempts(self, index: int) -> None:
        total = self.fetch.segment_attempts
        for attempt in range(1, total + 1):
            try:
                return self._attempt(index)
            except DownloadRetryable as exc:
                if self.should_stop():
                    raise DownloadCancelled() from exc
                label = self.progress.segments[index].label
                self.fetch.hooks.log_stderr(
                    f"workshop {self.fetch.meta.steam_id} {label} attempt {attempt}/{total} failed: {exc}"
                )
                if attempt == total == 1:
                    raise  # a bare attempt: the caller retries, resuming what came
                if attempt == total:
                    raise DownloadFailed(str(exc)) from exc
                if sleep_with_cancel(retry_delay(attempt, exc.retry_after), self.should_stop):
                    raise DownloadCancelled() from exc

    def _attempt(self, index: int) -> None:
        segment = self.progress.segments[index]
        start, end = segment.start + segment.done, segment.end
        meta, hooks = self.fetch.meta, self.fetch.hooks

        def got(n: int) -> None:
            self.progress.advance(index, n)
            hooks.add_bytes(n)

        try:
            with _watched(self.should_stop, end - start) as watch, _get(meta, start, end) as response:
                _accept_range(response, meta, start, end)
                self.ranges_ok.set()
                _stream(response, self.fd, start, end, watch, self.should_stop, got)
        finally:
            self.progress.save()


def _raise_first_failure(futures: list[Future[None]]) -> None:
    """The failure that ended the ranges: Range ignored, then a real failure, then a cancel."""
    failures = [f.exception() for f in futures if f.exception() is not None]
    for kind in (_RangeIgnored, DownloadFailed, BaseException):
        for exc in failures:
            if isinstance(exc, kind):
                raise exc


@contextmanager
def _watched(should_cancel: Callable[[], bool], bytes_to_fetch: int) -> Iterator[AttemptWatch]:
    """One attempt (of a whole file or of a range) under an AttemptWatch. When the watch cut the
    connection (cancel, stall, deadline), the attempt fails for the watch's reason, not the cut's."""
    with AttemptWatch(should_cancel=should_cancel, bytes_to_fetch=bytes_to_fetch) as watch:
        try:
            yield watch
        except (DownloadFailed, DownloadCancelled) as exc:
            if watch.tripped is not None:
                raise _tripped(watch.tripped) from exc
            raise


def _tripped(trip: Trip) -> Exception:
    return DownloadCancelled() if trip.cancelled else DownloadRetryable(trip.why)


def _get(meta: Upload, start: int, end: int | None = None) -> requests.Response:
    """GET the file from ``start`` (to ``end``, exclusive, when given)."""
    headers = {"Accept-Encoding": "identity"}  # sizes are checked on the bytes as stored
    if start or end is not None:
        headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
    try:
        return get_file(meta.file_url, headers=headers, timeout=request_timeout())
    except (DownloadRefused, TooManyRedirects) as exc:  # another attempt would get the same
        raise DownloadFailed(str(exc)) from exc
    except requests.RequestException as exc:
        raise DownloadRetryable(_network_why(exc)) from exc


def _accepted_offset(response: requests.Response, meta: Upload, root: Path, offset: int) -> int:
    """Where the body starts: ``offset`` for a matching 206, 0 for a 200; else why not."""
    status = response.status_code
    if status == 200:
        _check_length(response, meta.file_size)
        return 0
    if status == 206 and offset:
        expected = f"bytes {offset}-{meta.file_size - 1}/{meta.file_size}"
        if response.headers.get("Content-Range", "").strip() == expected:
            return offset
    if status in (206, 416):  # a resume the server cannot honour: the next attempt starts over
        discard_partial(root, meta.steam_id)
        raise DownloadRetryable(f"resume refused: HTTP {status}")
    raise _status_error(response)


def _accept_range(response: requests.Response, meta: Upload, start: int, end: int) -> None:
    """A 206 for exactly bytes [start, end) of a file of Steam's size; else why not."""
    status = response.status_code
    if status == 200:
        _check_length(response, meta.file_size)
        raise _RangeIgnored()
    if status == 206:
        content_range = response.headers.get("Content-Range", "").strip()
        if content_range == f"bytes {start}-{end - 1}/{meta.file_size}":
            return
        total = content_range.rpartition("/")[2]
        if total.isdigit() and int(total) != meta.file_size:
            raise DownloadFailed(f"size mismatch: server has {total} bytes, Steam says {meta.file_size}")
        raise DownloadRetryable(f"range refused: {content_range or 'no Content-Range'}")
    if status == 416:
        raise DownloadRetryable("range refused: HTTP 416")
    raise _status_error(response)


def _check_length(response: requests.Response, file_size: int) -> None:
    announced = response.headers.get("Content-Length")
    if announced is not None and announced.isdigit() and int(announced) != file_size:
        raise DownloadFailed(f"size mismatch: server has {announced} bytes, Steam says {file_size}")


def _status_error(response: requests.Response) -> DownloadFailed:
    status = response.status_code
    why = f"HTTP {status}"
    if status in PERMANENT_STATUSES:
        return DownloadFailed(why)
    after = transient_wait(response)
    return DownloadFailed(why) if after is False else DownloadRetryable(why, retry_after=after)


# --- moving the bytes ----------------------------------------------------------------------------


def _stream(
    response: requests.Response,
    fd: int,
    start: int,
    end: int,
    watch: AttemptWatch,
    should_cancel: Callable[[], bool],
    got: Callable[[int], None],
) -> None:
    """Write the body into bytes [start, end) of the file, reporting each piece to ``got``
    (and what came, once it ends, to the bytes downloaded of left4me.counters)."""
    position = start
    try:
        position = _pieces(response, fd, start, end, watch, should_cancel, got)
    finally:
        counters.count(counters.DOWNLOADED_BYTES, position - start)
    if position < end:
        raise DownloadRetryable(f"short body: got {position} of {end} bytes")


def _pieces(
    response: requests.Response,
    fd: int,
    start: int,
    end: int,
    watch: AttemptWatch,
    should_cancel: Callable[[], bool],
    got: Callable[[int], None],
) -> int:
    """Write pieces of the body from `start` until it ends or `end`; where it stopped."""
    buffer = memoryview(bytearray(CHUNK_SIZE))  # one per stream, reused: no allocation per piece
    read = _body_reader(response)
    position = flushed = start
    while position < end:
        n = _read(read, buffer, position, end)
        if not n:
            break
        watch.add_bytes(n)
        if should_cancel():
            raise DownloadCancelled()
        if position + n > end:
            raise DownloadFailed(f"size mismatch: got more than {end} bytes")
        _write(fd, buffer[:n], position)
        position += n
        if position - flushed >= WRITEBACK_BYTES:
            _start_writeback(fd, flushed, position)
            flushed = position
        got(n)
    return position


def _read(read: Callable[[memoryview], int], buffer: memoryview, position: int, end: int) -> int:
    try:
        return read(buffer)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise DownloadRetryable(_body_why(exc, position, end)) from exc


def _body_reader(response: requests.Response) -> Callable[[memoryview], int]:
    """How to read the next piece of the body into a buffer: as much as one read of the socket
    got (so the watch counts bytes as they come), not decoded (the request asks for the bytes
    as stored). A plain body of known length is read straight from the connection's buffered
    reader into the buffer (no bytes object per piece); anything else through urllib3."""
    raw = response.raw
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    plain = response.headers.get("Transfer-Encoding") is None and response.headers.get("Content-Length")
    if plain and isinstance(fp, io.BufferedReader):
        return fp.readinto1

    def via_urllib3(buffer: memoryview) -> int:
        chunk = raw.read1(len(buffer), decode_content=False)
        buffer[: len(chunk)] = chunk
        return len(chunk)

    return via_urllib3


def _write(fd: int, data: memoryview, position: int) -> None:
    while data:
        written = os.pwrite(fd, data, position)
        data, position = data[written:], position + written


def _start_writeback(fd: int, start: int, end: int) -> None:
    """Start writing bytes [start, end) to disk without waiting (Linux: fadvise DONTNEED writes
    dirty pages back, then drops the clean ones from the page cache)."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_DONTNEED)


def _finish(fd: int, meta: Upload) -> None:
    """The complete partial gets Steam's time as its mtime and is made durable."""
    os.utime(fd, (meta.time_updated, meta.time_updated))
    os.fsync(fd)


def _check_vpk_or_fetch_again(fetch: _Fetch) -> None:
    """A complete partial that is not a readable VPK (an error page of the right size, a corrupt
    upload) is discarded and fetched once more; unreadable again, the download fails with
    ``not a valid VPK: ...`` and whatever the cache held stays as it was."""
    meta, root = fetch.meta, fetch.root
    try:
        vpk_check(partial_path(root, meta.steam_id))
        return
    except NotAVpk as exc:
        fetch.hooks.log_stderr(f"workshop {meta.steam_id} {exc}; downloading it once more")
    discard_partial(root, meta.steam_id)
    fetch.into_partial()
    try:
        vpk_check(partial_path(root, meta.steam_id))
    except NotAVpk as exc:
        raise DownloadFailed(str(exc)) from exc


def _install(root: Path, steam_id: str, part: Path, final: Path) -> None:
    """Move the complete partial into place; the upload it replaces, and this one, stay kept
    under versions/ (each step is safe to repeat after a crash)."""
    if final.exists():
        keep_version(root, steam_id, final)
    os.replace(part, final)
    keep_version(root, steam_id, final)
    _stamp_path(part).unlink(missing_ok=True)
    directory = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# --- why an attempt failed ---------------------------------------------------------------------


def _network_why(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.ReadTimeout) or "Read timed out" in str(exc):
        return "read timeout"
    reason = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return f"connection error: {reason.group(1) if reason else exc.__class__.__name__}"


def _body_why(exc: Exception, got: int, size: int) -> str:
    timeouts = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    if "Read timed out" in str(exc) or isinstance(exc, timeouts):
        return f"read timeout after {got} of {size} bytes"
    return f"short body: got {got} of {size} bytes"


def _disk_why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return f"cache write failed: {exc.strerror or exc}"


# --- retries and the per-item lock ---------------------------------------------------------------


@contextmanager
def item_lock(cache_root: Path, steam_id: str, hooks: DownloadHooks = NO_HOOKS) -> Iterator[None]:
    """Hold the item's lock (workshop.cache.item_lock_file), waiting for it while not cancelled."""
    with item_lock_file(cache_root, steam_id) as take:
        while not take():
            if hooks.should_cancel():
                raise DownloadCancelled()
            time.sleep(LOCK_POLL_SECONDS)
        yield


def download_with_retry(
    meta: Upload,
    cache_root: Path,
    hooks: DownloadHooks = NO_HOOKS,
    *,
    attempts: int | None = None,
    slots: ConnectionSlots | None = None,
) -> bool:
    """Put the item in the cache; True if this call downloaded it, False if it was cached.

    Waits while another thread or process downloads the same item, then uses its file.
    Every failed attempt logs ``workshop <id> attempt k/N failed: <why>``; attempts resume
    the previous one's partial file, which is removed when the download gives up. Raises
    DownloadFailed(why) when attempts run out or the failure is permanent (403/404/410, size
    mismatch, disk full: no retry), caused by the last attempt's error (a DownloadRetryable
    when a later build may succeed); DownloadCancelled on cancel (also during a backoff).
    The ranges of a segmented item are retried alone, each with the same number of attempts
    (``workshop <id> bytes <a>-<b> attempt k/N failed: <why>``); extra connections for them come
    out of ``slots`` (all they want when None).
    """
    root = Path(cache_root)
    if is_cached(meta, root):
        return False
    with item_lock(root, meta.steam_id, hooks):
        if is_cached(meta, root):
            return False
        try:
            _attempt_until_done(meta, root, attempts or settings.WORKSHOP_DOWNLOAD_ATTEMPTS, hooks, slots)
        except (DownloadFailed, DownloadCancelled):
            # Attempts resume each other's partial; one that gives up leaves nothing behind.
            # Only a killed process leaves a partial, and the next download resumes it.
            discard_partial(root, meta.steam_id)
            raise
    return True


def _attempt_until_done(
    meta: Upload, root: Path, total: int, hooks: DownloadHooks, slots: ConnectionSlots | None
) -> None:
    for attempt in range(1, total + 1):
        try:
            download_to_cache(meta, root, hooks, slots=slots, segment_attempts=total)
            return
        except DownloadFailed as exc:
            hooks.log_stderr(f"workshop {meta.steam_id} attempt {attempt}/{total} failed: {exc}")
            if not isinstance(exc, DownloadRetryable) or attempt == total:
                raise DownloadFailed(str(exc)) from exc
            if sleep_with_cancel(retry_delay(attempt, exc.retry_after), hooks.should_cancel):
                raise DownloadCancelled() from exc


def _may_pass(exc: BaseException | None) -> bool:
    """Whether the download ran out of attempts on errors that may pass (not a permanent one):
    the failure, given up on by the item or by one of its ranges, was caused by one."""
    while isinstance(exc, DownloadFailed) and not isinstance(exc, DownloadRetryable):
        exc = exc.__cause__
    return isinstance(exc, DownloadRetryable)


# --- many items at once --------------------------------------------------------------------------


def download_many(
    metas: Iterable[Upload],
    cache_root: Path,
    hooks: DownloadHooks = NO_HOOKS,
    *,
    on_item_done: Callable[[str, DownloadOutcome], None] | None = None,
    concurrency: int | None = None,
    hooks_for: Callable[[str], DownloadHooks] | None = None,
) -> dict[str, DownloadOutcome]:
    """Download every item, WORKSHOP_DOWNLOAD_CONCURRENCY connections at a time (an item has
    one, a segmented item takes more when some are free); an outcome per steam_id.

    Items without a file_url are SKIPPED (no request). ``on_item_done`` is called from the
    download threads as each item ends, so, like the hooks, it must be thread-safe. With
    ``hooks_for``, each item is watched through ``hooks_for(steam_id)`` (asked in its download
    thread as the item starts) instead of ``hooks``, so its bytes can be told apart.
    """
    unique: dict[str, Upload] = {}
    for meta in metas:
        unique.setdefault(meta.steam_id, meta)
    workers = max(1, concurrency or settings.WORKSHOP_DOWNLOAD_CONCURRENCY)
    slots = ConnectionSlots(workers)

    def one(meta: Upload) -> DownloadOutcome:
        slots.hold()
        try:
            item_hooks = hooks_for(meta.steam_id) if hooks_for is not None and meta.file_url else hooks
            outcome = _outcome(meta, Path(cache_root), item_hooks, slots)
            if on_item_done is not None:
                on_item_done(meta.steam_id, outcome)
            return outcome
        finally:
            slots.give(1)
            connections.close_all()  # only this thread's: the callbacks may have touched the database

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="workshop-download") as pool:
        return dict(zip(unique, pool.map(one, unique.values()), strict=True))


def _outcome(meta: Upload, root: Path, hooks: DownloadHooks, slots: ConnectionSlots) -> DownloadOutcome:
    try:
        if not meta.file_url:
            return DownloadOutcome(DownloadStatus.SKIPPED, "no file_url")
        if hooks.should_cancel():
            return DownloadOutcome(DownloadStatus.CANCELLED)
        downloaded = download_with_retry(meta, root, hooks, slots=slots)
    except DownloadCancelled:
        return DownloadOutcome(DownloadStatus.CANCELLED)
    except DownloadFailed as exc:
        return DownloadOutcome(DownloadStatus.FAILED, str(exc), transient=_may_pass(exc))
    finally:
        connections.close_all()  # only this thread's: the hooks may have touched the database
    return DownloadOutcome(DownloadStatus.DOWNLOADED if downloaded else DownloadStatus.CACHED)
