"""The workshop cache on disk: where an item's file, its partial download and its lock live, and
whether a file is the upload Steam describes.

The cache holds ``<steam_id>.vpk``, the newest upload, with mtime == Steam's ``time_updated``
and size == ``file_size``; that pair is the only check Steam allows (there is no checksum).
Every upload downloaded is also kept as ``versions/<steam_id>/<time_updated>.vpk`` (a hard
link: the newest costs no space twice), so an overlay can stay on, or roll back to, an earlier
one after Steam ships an update. A download streams into the hidden ``.<steam_id>.vpk.part``
next to it, whose ``.part.json`` sidecar records which upload it belongs to.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol


class Upload(Protocol):
    """What Steam says of an item's file (WorkshopMetadata and WorkshopItem both are one)."""

    steam_id: str
    file_url: str
    file_size: int
    time_updated: int


class CacheState(enum.StrEnum):
    CACHED = "cached"  # the file is Steam's current upload (or Steam no longer serves one)
    STALE = "stale"  # a file is there, but not the upload Steam describes now
    MISSING = "missing"  # Steam serves a file; none is in the cache
    NO_FILE = "no file"  # Steam serves no file and none is in the cache

    @property
    def on_disk(self) -> bool:
        return self in (CacheState.CACHED, CacheState.STALE)


class UnsafePath(ValueError):
    """A path built from an id would leave its folder: the id is not a workshop id."""


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused unless it is a plain file name directly in ``folder``.

    Ids are validated where they enter (typed, or in Steam's answers); this is the second line
    of defence for every path the cache, lock and link code builds from one.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise UnsafePath(f"refusing a path outside {folder}: {name!r}")
    return Path(folder) / name


def is_workshop_id(text: str) -> bool:
    """Plain ASCII digits: what an id must be before it names a file or folder."""
    return text.isascii() and text.isdigit()


def id_of_file(name: str) -> str:
    """The id in a cache file name ``<id>.vpk``, or "" when the name is not one."""
    stem = name.removesuffix(".vpk")
    return stem if name.endswith(".vpk") and is_workshop_id(stem) else ""


def _checked_id(steam_id: str) -> str:
    if not is_workshop_id(steam_id):
        raise UnsafePath(f"not a workshop id: {steam_id!r}")
    return steam_id


def cache_path(root: Path, steam_id: str) -> Path:
    return inside(Path(root), f"{_checked_id(steam_id)}.vpk")


def partial_path(root: Path, steam_id: str) -> Path:
    return inside(Path(root), f".{_checked_id(steam_id)}.vpk.part")


def lock_path(root: Path, steam_id: str) -> Path:
    return inside(Path(root) / ".locks", f"{_checked_id(steam_id)}.lock")


@contextlib.contextmanager
def item_lock_file(root: Path, steam_id: str) -> Iterator[Callable[[], bool]]:
    """The item's lock file, held open: yields `take()`, True once this process holds the item's
    lock (it never waits); closing the file releases it. A download holds it (one download of an
    item at a time, across threads and processes), and so does cache collection removing it."""
    path = lock_path(root, steam_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def take() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    try:
        yield take
    finally:
        os.close(fd)


def versions_dir(root: Path, steam_id: str) -> Path:
    return inside(Path(root) / "versions", _checked_id(steam_id))


def version_path(root: Path, steam_id: str, time_updated: int) -> Path:
    return inside(versions_dir(root, steam_id), f"{int(time_updated)}.vpk")


def kept_versions(root: Path, steam_id: str) -> list[int]:
    """The uploads of the item kept in the cache, newest first."""
    try:
        names = os.listdir(versions_dir(root, steam_id))
    except FileNotFoundError:
        return []
    return sorted((int(stem) for stem in map(id_of_file, names) if stem), reverse=True)


def keep_version(root: Path, steam_id: str, path: Path) -> None:
    """Record the complete upload at `path` (mtime == its time_updated) under versions/ with a
    hard link; nothing is copied, and a version already kept stays as it is."""
    stat = os.stat(path)
    kept = version_path(root, steam_id, int(stat.st_mtime))
    if kept.exists():
        return
    kept.parent.mkdir(parents=True, exist_ok=True)
    tmp = kept.with_name(f".{kept.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.link(path, tmp)
    os.replace(tmp, kept)


def prune_versions(root: Path, steam_id: str, *, keep: int, protected: set[int]) -> list[int]:
    """Remove the item's kept uploads beyond the newest one and `keep` earlier ones, except the
    `protected` (pinned) ones; returns the versions removed."""
    removed = []
    for version in kept_versions(root, steam_id)[keep + 1 :]:
        if version not in protected:
            version_path(root, steam_id, version).unlink(missing_ok=True)
            removed.append(version)
    return removed


def link_name(steam_id: str) -> str:
    """The name of an item's link in an overlay's addons/ folder."""
    return f"{_checked_id(steam_id)}.vpk"


def holds_upload(stat: os.stat_result, upload: Upload) -> bool:
    """A file with this stat is the upload Steam describes (Steam gives no checksum)."""
    return int(stat.st_mtime) == upload.time_updated and stat.st_size == upload.file_size


def is_cached(upload: Upload, root: Path) -> bool:
    """The cache file is this upload: mtime == time_updated and size == file_size."""
    try:
        stat = cache_path(root, upload.steam_id).stat()
    except OSError:
        return False
    return holds_upload(stat, upload)


def cache_state(upload: Upload, root: Path) -> CacheState:
    """One stat of the cache file, read against what Steam says (called per row of a page,
    so it joins strings rather than building Path objects)."""
    try:
        stat = os.stat(os.path.join(root, link_name(upload.steam_id)))
    except FileNotFoundError:
        return CacheState.MISSING if upload.file_url else CacheState.NO_FILE
    if not upload.file_url or holds_upload(stat, upload):
        return CacheState.CACHED
    return CacheState.STALE
