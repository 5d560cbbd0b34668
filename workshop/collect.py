"""Removing files from the workshop cache safely: the file-level half of garbage collection.

What may go is decided above (overlays knows what is linked or pinned); this module removes an
item's files only under the item's download lock, and re-asks `still_wanted()` after moving the
file aside, so a build that links the item at that very moment keeps a valid link.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from workshop.cache import (
    UnsafePath,
    cache_path,
    id_of_file,
    is_workshop_id,
    item_lock_file,
    kept_versions,
    lock_path,
    version_path,
    versions_dir,
)

PART_SUFFIXES = (".vpk.part", ".vpk.part.json")


@dataclass(frozen=True)
class Removal:
    path: Path
    size: int
    why: str


@contextlib.contextmanager
def try_item_lock(root: Path, steam_id: str) -> Iterator[bool]:
    """Hold the item's download lock if nobody else does; yields whether it is held."""
    with item_lock_file(root, steam_id) as take:
        yield take()


def item_files(root: Path, steam_id: str) -> list[Path]:
    """The item's complete files: the newest upload and every kept one."""
    files = [cache_path(root, steam_id)]
    files += [version_path(root, steam_id, version) for version in kept_versions(root, steam_id)]
    return [path for path in files if path.exists()]


def collect_item(
    root: Path, steam_id: str, *, why: str, still_wanted: Callable[[], bool], dry_run: bool = False
) -> list[Removal]:
    """Remove every file of the item unless a download holds it or `still_wanted()` turns true."""
    with try_item_lock(root, steam_id) as held:
        if not held or still_wanted():
            return []
        removals = [Removal(path, path.stat().st_size, why) for path in item_files(root, steam_id)]
        if dry_run or not removals:
            return removals
        final = cache_path(root, steam_id)
        aside = final.with_name(f".{final.name}.collect")
        moved = final.exists()
        if moved:
            os.replace(final, aside)
        if still_wanted():  # linked meanwhile: put it back, the build's link stays valid
            if moved:
                os.replace(aside, final)
            return []
        aside.unlink(missing_ok=True)
        shutil.rmtree(versions_dir(root, steam_id), ignore_errors=True)
        return removals


def collect_version(root: Path, steam_id: str, version: int, *, dry_run: bool = False) -> Removal | None:
    path = version_path(root, steam_id, version)
    with try_item_lock(root, steam_id) as held:
        if not held or not path.exists():
            return None
        removal = Removal(path, path.stat().st_size, "an earlier upload past WORKSHOP_KEEP_VERSIONS")
        if not dry_run:
            path.unlink(missing_ok=True)
        return removal


def ids_on_disk(root: Path) -> set[str]:
    """Steam ids with a complete file or kept versions in the cache."""
    ids: set[str] = set()
    with contextlib.suppress(FileNotFoundError):
        ids |= {steam_id for steam_id in map(id_of_file, os.listdir(root)) if steam_id}
    with contextlib.suppress(FileNotFoundError):
        ids |= {name for name in os.listdir(Path(root) / "versions") if is_workshop_id(name)}
    return ids


def changed_before(path: Path, seconds: float) -> bool:
    """The file's inode changed (it was written or moved into place) more than `seconds` ago."""
    try:
        return time.time() - path.stat().st_ctime > seconds
    except FileNotFoundError:
        return False


def stale_partials(root: Path, older_than: float, *, dry_run: bool = False) -> list[Removal]:
    """Partial downloads (and their sidecars) untouched for `older_than` seconds that no download holds."""
    removals: list[Removal] = []
    for name in _names(root):
        if not (name.startswith(".") and name.endswith(".vpk.part")):
            continue
        steam_id = name[1:].removesuffix(".vpk.part")
        part = Path(root) / name
        try:
            if time.time() - part.stat().st_mtime <= older_than:
                continue
            with try_item_lock(root, steam_id) as held:
                if held:
                    removals += _remove_all(
                        [part, part.with_name(name + ".json")], "an abandoned partial download", dry_run
                    )
        except (UnsafePath, FileNotFoundError):
            continue
    return removals


def orphan_locks(root: Path, known: set[str], *, dry_run: bool = False) -> list[Removal]:
    """Lock files of items the database no longer knows, unless held."""
    removals: list[Removal] = []
    for name in _names(Path(root) / ".locks"):
        steam_id = name.removesuffix(".lock")
        if steam_id in known or not name.endswith(".lock"):
            continue
        try:
            with try_item_lock(root, steam_id) as held:
                if held:
                    removals += _remove_all(
                        [lock_path(root, steam_id)], "the lock of an unknown item", dry_run
                    )
        except UnsafePath:
            continue
    return removals


def _remove_all(paths: list[Path], why: str, dry_run: bool) -> list[Removal]:
    removals = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            removals.append(Removal(path, path.stat().st_size, why))
            if not dry_run:
                path.unlink()
    return removals


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []
