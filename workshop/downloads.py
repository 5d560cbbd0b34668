"""Downloading workshop ``.vpk`` files into the shared cache: streaming, resumable, never corrupt.

A download streams into the item's partial file (its sidecar records which upload it belongs
to, so a later attempt can resume it with ``Range``), then is fsynced and renamed into place: a
file under the final name is always complete (layout in workshop.cache). Items are anything
with ``steam_id``, ``file_url``, ``file_size`` and ``time_updated`` (WorkshopMetadata or
WorkshopItem). The caller watches and steers through one DownloadHooks object (a running job's
context is one).

Each attempt runs under a workshop.watch.AttemptWatch: a cancel ends it within a second, and it
fails (retryable) when it stalls (``stalled: under 32.0 KiB/s for 30 s``) or outlives its
deadline (``deadline passed: ...``), whatever the server does.

The retry policy runs inside the build job rather than as Celery task retries, because the
build needs the attempt lines in its own log, a cancel that ends a backoff at once, and the
items that did download even when another failed. The schedule is Celery's own formula.
"""

from __future__ import annotations

import enum
import errno
import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import requests
import urllib3
from django.conf import settings
from django.db import connections

from jobs.cancel import sleep_with_cancel
from workshop.cache import Upload, cache_path, is_cached, keep_version, lock_path, partial_path
from workshop.fetch import DownloadRefused, TooManyRedirects, get_file
from workshop.retry import retry_delay, transient_wait
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


def _stamp_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _stamp(meta: Upload) -> dict[str, int]:
    return {"time_updated": int(meta.time_updated), "file_size": int(meta.file_size)}


# --- one attempt -------------------------------------------------------------------------------


def download_to_cache(meta: Upload, cache_root: Path, hooks: DownloadHooks = NO_HOOKS) -> Path:
    """One attempt to put this upload of the item in the cache; its path.

    Does nothing when it is cached already. ``hooks.add_bytes(n)`` gets the number of new
    bytes after each chunk. Raises DownloadRetryable (keeps a clean partial to resume),
    DownloadFailed (partial removed) or DownloadCancelled (partial kept). Callers that may
    race for one item hold :func:`item_lock` (download_with_retry does).
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
    try:
        _fetch_into_partial(meta, root, hooks)
        _check_vpk_or_fetch_again(meta, root, hooks)
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


def _fetch_into_partial(meta: Upload, root: Path, hooks: DownloadHooks) -> None:
    offset = _resume_offset(meta, root)
    with AttemptWatch(should_cancel=hooks.should_cancel, bytes_to_fetch=meta.file_size - offset) as watch:
        try:
            with _get(meta, offset) as response:
                offset = _accepted_offset(response, meta, root, offset)
                _stream(response, partial_path(root, meta.steam_id), meta, offset, hooks, watch)
        except (DownloadFailed, DownloadCancelled) as exc:
            if watch.tripped is not None:  # the watch cut the connection: its why, not the cut's
                raise _tripped(watch.tripped) from exc
            raise


def _tripped(trip: Trip) -> Exception:
    return DownloadCancelled() if trip.cancelled else DownloadRetryable(trip.why)


def _resume_offset(meta: Upload, root: Path) -> int:
    """Bytes of a partial of this very upload to resume from; else a fresh, stamped partial: 0."""
    part = partial_path(root, meta.steam_id)
    try:
        have = part.stat().st_size
        stamp = json.loads(_stamp_path(part).read_text())
    except (OSError, ValueError):
        have, stamp = 0, None
    if stamp == _stamp(meta) and 0 < have < meta.file_size:
        return have
    discard_partial(root, meta.steam_id)
    _stamp_path(part).write_text(json.dumps(_stamp(meta)))
    return 0


def _get(meta: Upload, offset: int) -> requests.Response:
    headers = {"Accept-Encoding": "identity"}  # sizes are checked on the bytes as stored
    if offset:
        headers["Range"] = f"bytes={offset}-"
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


def _stream(
    response: requests.Response,
    part: Path,
    meta: Upload,
    offset: int,
    hooks: DownloadHooks,
    watch: AttemptWatch,
) -> None:
    got = flushed = offset
    with open(part, "ab" if offset else "wb") as out:
        try:
            for chunk in _body(response):
                watch.add_bytes(len(chunk))
                if hooks.should_cancel():
                    raise DownloadCancelled()
                got += len(chunk)
                if got > meta.file_size:
                    raise DownloadFailed(f"size mismatch: got more than {meta.file_size} bytes")
                _write(out, chunk)
                if got - flushed >= WRITEBACK_BYTES:
                    _start_writeback(out, flushed, got)
                    flushed = got
                hooks.add_bytes(len(chunk))
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise DownloadRetryable(_body_why(exc, got, meta.file_size)) from exc
        if got < meta.file_size:
            raise DownloadRetryable(f"short body: got {got} of {meta.file_size} bytes")
        out.flush()
        os.utime(out.fileno(), (meta.time_updated, meta.time_updated))
        os.fsync(out.fileno())


def _body(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: each piece is what one read of the socket got (up to CHUNK_SIZE),
    so the watch counts bytes as they come; iter_content would wait for a whole CHUNK_SIZE.
    Not decoded: the request asks for the bytes as stored."""
    while chunk := response.raw.read1(CHUNK_SIZE, decode_content=False):
        yield chunk


def _write(out: BinaryIO, chunk: bytes) -> None:
    out.write(chunk)


def _start_writeback(out: BinaryIO, start: int, end: int) -> None:
    """Start writing bytes [start, end) to disk without waiting (Linux: fadvise DONTNEED writes
    dirty pages back, then drops the clean ones from the page cache)."""
    out.flush()
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(out.fileno(), start, end - start, os.POSIX_FADV_DONTNEED)


def _check_vpk_or_fetch_again(meta: Upload, root: Path, hooks: DownloadHooks) -> None:
    """A complete partial that is not a readable VPK (an error page of the right size, a corrupt
    upload) is discarded and fetched once more; unreadable again, the download fails with
    ``not a valid VPK: ...`` and whatever the cache held stays as it was."""
    try:
        vpk_check(partial_path(root, meta.steam_id))
        return
    except NotAVpk as exc:
        hooks.log_stderr(f"workshop {meta.steam_id} {exc}; downloading it once more")
    discard_partial(root, meta.steam_id)
    _fetch_into_partial(meta, root, hooks)
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
    if "Read timed out" in str(exc) or isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError)):
        return f"read timeout after {got} of {size} bytes"
    return f"short body: got {got} of {size} bytes"


def _disk_why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return f"cache write failed: {exc.strerror or exc}"


# --- retries and the per-item lock ---------------------------------------------------------------


@contextmanager
def item_lock(cache_root: Path, steam_id: str, hooks: DownloadHooks = NO_HOOKS) -> Iterator[None]:
    """Hold the item's lock file: one download of an item at a time, across threads and processes."""
    path = lock_path(cache_root, steam_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        while not _try_lock(fd):
            if hooks.should_cancel():
                raise DownloadCancelled()
            time.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def download_with_retry(
    meta: Upload, cache_root: Path, hooks: DownloadHooks = NO_HOOKS, *, attempts: int | None = None
) -> bool:
    """Put the item in the cache; True if this call downloaded it, False if it was cached.

    Waits while another thread or process downloads the same item, then uses its file.
    Every failed attempt logs ``workshop <id> attempt k/N failed: <why>``; attempts resume
    the previous one's partial file, which is removed when the download gives up. Raises
    DownloadFailed(why) when attempts run out or the failure is permanent (403/404/410, size
    mismatch, disk full: no retry), caused by the last attempt's error (a DownloadRetryable
    when a later build may succeed); DownloadCancelled on cancel (also during a backoff).
    """
    root = Path(cache_root)
    if is_cached(meta, root):
        return False
    with item_lock(root, meta.steam_id, hooks):
        if is_cached(meta, root):
            return False
        try:
            _attempt_until_done(meta, root, attempts or settings.WORKSHOP_DOWNLOAD_ATTEMPTS, hooks)
        except (DownloadFailed, DownloadCancelled):
            # Attempts resume each other's partial; one that gives up leaves nothing behind.
            # Only a killed process leaves a partial, and the next download resumes it.
            discard_partial(root, meta.steam_id)
            raise
    return True


def _attempt_until_done(meta: Upload, root: Path, total: int, hooks: DownloadHooks) -> None:
    for attempt in range(1, total + 1):
        try:
            download_to_cache(meta, root, hooks)
            return
        except DownloadFailed as exc:
            hooks.log_stderr(f"workshop {meta.steam_id} attempt {attempt}/{total} failed: {exc}")
            if not isinstance(exc, DownloadRetryable) or attempt == total:
                raise DownloadFailed(str(exc)) from exc
            if sleep_with_cancel(retry_delay(attempt, exc.retry_after), hooks.should_cancel):
                raise DownloadCancelled() from exc


def _may_pass(exc: DownloadFailed) -> bool:
    """Whether the download ran out of attempts on errors that may pass (not a permanent one)."""
    return isinstance(exc, DownloadRetryable) or isinstance(exc.__cause__, DownloadRetryable)


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
    """Download every item, WORKSHOP_DOWNLOAD_CONCURRENCY at a time; an outcome per steam_id.

    Items without a file_url are SKIPPED (no request). ``on_item_done`` is called from the
    download threads as each item ends, so, like the hooks, it must be thread-safe. With
    ``hooks_for``, each item is watched through ``hooks_for(steam_id)`` (asked in its download
    thread as the item starts) instead of ``hooks``, so its bytes can be told apart.
    """
    unique: dict[str, Upload] = {}
    for meta in metas:
        unique.setdefault(meta.steam_id, meta)
    workers = max(1, concurrency or settings.WORKSHOP_DOWNLOAD_CONCURRENCY)

    def one(meta: Upload) -> DownloadOutcome:
        try:
            item_hooks = hooks_for(meta.steam_id) if hooks_for is not None and meta.file_url else hooks
            outcome = _outcome(meta, Path(cache_root), item_hooks)
            if on_item_done is not None:
                on_item_done(meta.steam_id, outcome)
            return outcome
        finally:
            connections.close_all()  # only this thread's: the callbacks may have touched the database

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="workshop-download") as pool:
        return dict(zip(unique, pool.map(one, unique.values()), strict=True))


def _outcome(meta: Upload, root: Path, hooks: DownloadHooks) -> DownloadOutcome:
    try:
        if not meta.file_url:
            return DownloadOutcome(DownloadStatus.SKIPPED, "no file_url")
        if hooks.should_cancel():
            return DownloadOutcome(DownloadStatus.CANCELLED)
        downloaded = download_with_retry(meta, root, hooks)
    except DownloadCancelled:
        return DownloadOutcome(DownloadStatus.CANCELLED)
    except DownloadFailed as exc:
        return DownloadOutcome(DownloadStatus.FAILED, str(exc), transient=_may_pass(exc))
    finally:
        connections.close_all()  # only this thread's: the hooks may have touched the database
    return DownloadOutcome(DownloadStatus.DOWNLOADED if downloaded else DownloadStatus.CACHED)
