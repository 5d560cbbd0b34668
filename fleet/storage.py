"""What the workshop cache holds and what garbage collection would free: the operators' Storage page.

The cache is read with os.scandir and stat only (no file is opened) and the database in two
queries however many items there are. Sizes are what the files hold (st_size); a file with
several hard links (``<id>.vpk`` and its ``versions/<id>/<time>.vpk``) counts once, by inode.
What is collectable follows fleet.gc: the same rules, read without acting on them.
"""

from __future__ import annotations

import enum
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from left4me.disk import free_bytes
from left4me.units import counted, human_duration
from overlays.models import OverlayWorkshopItem
from workshop.cache import id_of_file, is_workshop_id
from workshop.models import WorkshopItem

LARGEST_SHOWN = 20

Inode = tuple[int, int]  # (st_dev, st_ino): every hard link of one file shares it


@dataclass(frozen=True)
class CacheFile:
    path: str  # relative to the cache folder
    inode: Inode
    size: int
    ctime: float


@dataclass
class CacheScan:
    """Every regular file under the cache folder, sorted by what it is."""

    files: list[CacheFile] = field(default_factory=list)
    current: dict[str, CacheFile] = field(default_factory=dict)  # steam id -> <id>.vpk
    versions: dict[str, dict[int, CacheFile]] = field(default_factory=dict)  # id -> time -> file
    partials: list[CacheFile] = field(default_factory=list)  # .<id>.vpk.part
    links: Counter[Inode] = field(default_factory=Counter)  # inode -> paths in the cache

    def add(self, file: CacheFile) -> None:
        self.files.append(file)
        self.links[file.inode] += 1
        parts = file.path.split("/")
        name = parts[-1]
        if len(parts) == 1 and id_of_file(name):
            self.current[id_of_file(name)] = file
        elif len(parts) == 1 and name.startswith(".") and name.endswith(".vpk.part"):
            self.partials.append(file)
        elif len(parts) == 3 and parts[0] == "versions" and is_workshop_id(parts[1]) and id_of_file(name):
            self.versions.setdefault(parts[1], {})[int(id_of_file(name))] = file

    def item_ids(self) -> set[str]:
        return set(self.current) | set(self.versions)

    def item_files(self, steam_id: str) -> list[CacheFile]:
        current = [self.current[steam_id]] if steam_id in self.current else []
        return current + list(self.versions.get(steam_id, {}).values())

    def earlier_uploads(self, steam_id: str) -> list[CacheFile]:
        """Kept uploads that are not the current file (another inode than ``<id>.vpk``)."""
        current = self.current.get(steam_id)
        kept = self.versions.get(steam_id, {}).values()
        return [file for file in kept if current is None or file.inode != current.inode]

    def extra_versions(self, steam_id: str, *, keep: int, pinned: set[int]) -> list[CacheFile]:
        """What the collection removes as past WORKSHOP_KEEP_VERSIONS (as prune_versions picks)."""
        kept = self.versions.get(steam_id, {})
        return [kept[time] for time in sorted(kept, reverse=True)[keep + 1 :] if time not in pinned]

    def freed_by(self, files: Iterable[CacheFile]) -> int:
        """Bytes removing these paths frees: the files none of whose hard links stays."""
        going = Counter(file.inode for file in files)
        sizes = {file.inode: file.size for file in files}
        return sum(sizes[inode] for inode, paths in going.items() if paths == self.links[inode])


def unique_bytes(files: Iterable[CacheFile]) -> int:
    return sum({file.inode: file.size for file in files}.values())


def cache_scan(root: Path) -> CacheScan:
    scan = CacheScan()
    for path, stat in _walk(str(root), ""):
        scan.add(CacheFile(path, (stat.st_dev, stat.st_ino), stat.st_size, stat.st_ctime))
    return scan


def _walk(folder: str, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
    """(path relative to the cache, stat) of each regular file; what vanishes meanwhile is skipped."""
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path, f"{prefix}{entry.name}/")
            elif entry.is_file(follow_symlinks=False):
                yield f"{prefix}{entry.name}", entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue


# --- the report -------------------------------------------------------------------------


class When(enum.StrEnum):
    NEXT = "next"  # at the next collection
    AFTER = "after"  # at the first collection after `due`
    GRACE = "grace"  # the next collection starts its grace period
    MANUAL = "manual"  # only `manage.py workshop_gc --now` removes it


@dataclass(frozen=True)
class Collectable:
    steam_id: str
    title: str
    size: int  # bytes freed
    why: str
    when: When
    due: datetime | None = None


@dataclass(frozen=True)
class OverlayRef:
    pk: int
    name: str


@dataclass(frozen=True)
class LargeItem:
    steam_id: str
    title: str
    known: bool  # the database has a row for it
    size: int
    uploads: int
    overlays: tuple[OverlayRef, ...]


@dataclass(frozen=True)
class StorageReport:
    root: Path
    total_bytes: int
    items_with_files: int
    uploads: int  # distinct files of items: the current ones and the earlier ones kept
    earlier_uploads: int
    earlier_bytes: int
    linked_bytes: int
    collectable: list[Collectable]
    partials: int
    partial_bytes: int
    free_bytes: int
    min_free_bytes: int
    grace: timedelta
    keep_versions: int
    largest: list[LargeItem]

    @property
    def collectable_bytes(self) -> int:
        return sum(row.size for row in self.collectable)

    @property
    def collectable_next_bytes(self) -> int:
        """What the next collection would free."""
        return sum(row.size for row in self.collectable if row.when == When.NEXT)

    @property
    def low(self) -> bool:
        return self.free_bytes < self.min_free_bytes

    @property
    def grace_text(self) -> str:
        """WORKSHOP_CACHE_GRACE in the largest unit that divides it: "7 days", "36 hours"."""
        return human_duration(int(self.grace.total_seconds()))


@dataclass(frozen=True)
class _Link:
    steam_id: str
    pinned: int | None
    overlay: OverlayRef


@dataclass(frozen=True)
class _Known:
    title: str
    unlinked_since: datetime | None


def storage_report() -> StorageReport:
    root = Path(settings.WORKSHOP_CACHE_ROOT)
    scan = cache_scan(root)
    known = {
        steam_id: _Known(title, since)
        for steam_id, title, since in WorkshopItem.objects.values_list("steam_id", "title", "unlinked_since")
    }
    links = [
        _Link(steam_id, pinned, OverlayRef(pk, name))
        for steam_id, pinned, pk, name in OverlayWorkshopItem.objects.values_list(
            "item__steam_id", "pinned_version", "overlay_id", "overlay__name"
        )
    ]
    ids = scan.item_ids()
    earlier = [file for steam_id in ids for file in scan.earlier_uploads(steam_id)]
    return StorageReport(
        root=root,
        total_bytes=unique_bytes(scan.files),
        items_with_files=len(ids),
        uploads=sum(len({file.inode for file in scan.item_files(steam_id)}) for steam_id in ids),
        earlier_uploads=len(earlier),
        earlier_bytes=unique_bytes(earlier),
        linked_bytes=unique_bytes(_linked_files(scan, links)),
        collectable=_collectable(scan, known, links),
        partials=len(scan.partials),
        partial_bytes=unique_bytes(scan.partials),
        free_bytes=free_bytes(root),
        min_free_bytes=settings.WORKSHOP_MIN_FREE_BYTES,
        grace=timedelta(seconds=settings.WORKSHOP_CACHE_GRACE),
        keep_versions=settings.WORKSHOP_KEEP_VERSIONS,
        largest=_largest(scan, known, links),
    )


def _linked_files(scan: CacheScan, links: list[_Link]) -> list[CacheFile]:
    """The file each link points at: the pinned upload when it is kept, else the current one
    (as the build links them)."""
    files = []
    for link in links:
        pinned = scan.versions.get(link.steam_id, {}).get(link.pinned) if link.pinned is not None else None
        file = pinned or scan.current.get(link.steam_id)
        if file is not None:
            files.append(file)
    return files


def _collectable(scan: CacheScan, known: dict[str, _Known], links: list[_Link]) -> list[Collectable]:
    linked = {link.steam_id for link in links}
    pinned: dict[str, set[int]] = {}
    for link in links:
        if link.pinned is not None:
            pinned.setdefault(link.steam_id, set()).add(link.pinned)
    rows: list[Collectable] = []
    for steam_id in sorted(scan.item_ids(), key=int):
        extra = scan.extra_versions(
            steam_id, keep=settings.WORKSHOP_KEEP_VERSIONS, pinned=pinned.get(steam_id, set())
        )
        whole = None if steam_id in linked else _unlinked(scan, steam_id, known.get(steam_id))
        rows += _item_rows(scan, steam_id, known.get(steam_id), extra, whole)
    return sorted(rows, key=_due_order)


def _item_rows(
    scan: CacheScan,
    steam_id: str,
    item: _Known | None,
    extra: list[CacheFile],
    whole: tuple[str, When, datetime | None] | None,
) -> list[Collectable]:
    """The item's earlier uploads past the limit (at the next collection) and, when no overlay
    links it, the rest of its files when its grace period ends."""
    title = item.title if item else ""
    if whole is not None and whole[1] == When.NEXT:
        extra = []  # everything goes at once
    rows = []
    freed_extra = scan.freed_by(extra)
    if extra:
        why = f"{counted(len(extra), 'earlier upload')} beyond the {settings.WORKSHOP_KEEP_VERSIONS} kept for roll back"
        rows.append(Collectable(steam_id, title, freed_extra, why, When.NEXT))
    if whole is not None:
        why, when, due = whole
        freed = scan.freed_by(scan.item_files(steam_id)) - freed_extra
        rows.append(Collectable(steam_id, title, freed, why, when, due))
    return rows


def _unlinked(scan: CacheScan, steam_id: str, item: _Known | None) -> tuple[str, When, datetime | None]:
    """Why and when the files of an item no overlay links to go."""
    grace = timedelta(seconds=settings.WORKSHOP_CACHE_GRACE)
    if item is None:  # the collection ages unknown files by the newest change of any of them
        files = scan.item_files(steam_id)
        if not files:
            return "not in the database", When.MANUAL, None
        changed = datetime.fromtimestamp(max(file.ctime for file in files), tz=UTC)
        return "not in the database", *_after(changed + grace)
    if item.unlinked_since is None:
        return "no overlay links it", (When.GRACE if grace else When.NEXT), None
    return "no overlay links it", *_after(item.unlinked_since + grace)


def _after(due: datetime) -> tuple[When, datetime | None]:
    return (When.NEXT, None) if due <= timezone.now() else (When.AFTER, due)


def _due_order(row: Collectable) -> tuple[int, datetime, int]:
    order = list(When).index(row.when)
    return order, row.due or datetime.min.replace(tzinfo=UTC), -row.size


def _largest(scan: CacheScan, known: dict[str, _Known], links: list[_Link]) -> list[LargeItem]:
    sizes = {steam_id: unique_bytes(scan.item_files(steam_id)) for steam_id in scan.item_ids()}
    top = sorted(sizes, key=lambda steam_id: (-sizes[steam_id], int(steam_id)))[:LARGEST_SHOWN]
    users: dict[str, set[OverlayRef]] = {steam_id: set() for steam_id in top}
    for link in links:
        if link.steam_id in users:
            users[link.steam_id].add(link.overlay)
    return [
        LargeItem(
            steam_id=steam_id,
            title=known[steam_id].title if steam_id in known else "",
            known=steam_id in known,
            size=sizes[steam_id],
            uploads=len({file.inode for file in scan.item_files(steam_id)}),
            overlays=tuple(sorted(users[steam_id], key=lambda ref: (ref.name, ref.pk))),
        )
        for steam_id in top
    ]
