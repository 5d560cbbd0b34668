"""Garbage collection of the workshop cache: what no overlay links to (directly or by a pin) goes
after WORKSHOP_CACHE_GRACE, earlier uploads past WORKSHOP_KEEP_VERSIONS go, and so do abandoned
partial downloads and the locks of items no longer known. See README "Disk and versions"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from left4me.models import Host, host_here
from left4me.units import human_bytes
from overlays.models import OverlayWorkshopItem, pinned_versions
from workshop.cache import kept_versions
from workshop.collect import (
    Removal,
    changed_before,
    collect_item,
    collect_version,
    ids_on_disk,
    item_files,
    orphan_locks,
    stale_partials,
)
from workshop.models import WorkshopItem

PARTIAL_AGE_SECONDS = 24 * 3600


@dataclass
class CollectResult:
    removals: list[Removal] = field(default_factory=list)
    waiting: int = 0  # unlinked items still in their grace period

    @property
    def freed(self) -> int:
        return sum(removal.size for removal in self.removals)


def cache_collect(
    *,
    now: bool = False,
    dry_run: bool = False,
    log: Callable[[str], None] = print,
    host: Host | None = None,
) -> CollectResult:
    """Collect this host's cache (`host`: the Host this process runs on, LEFT4ME_HOST); `now` ignores the grace period, `dry_run` removes nothing. An item counts as linked
    when an overlay on this host links it: one used only on other hosts goes from here too."""
    root = Path(settings.WORKSHOP_CACHE_ROOT)
    host = host or host_here()
    result = CollectResult()
    due = _mark_unlinked(timezone.now(), root=root, host=host, now=now, dry_run=dry_run, result=result)
    for item, since in due:
        where = "no overlay" if item.unlinked_since else f"no overlay on host {host}"
        why = f"{where} links it since {since:%Y-%m-%d %H:%M}" if since else f"{where} links it"
        result.removals += collect_item(
            root, item.steam_id, why=why, still_wanted=_linked(item.steam_id, host), dry_run=dry_run
        )
    result.removals += _extra_versions(root, dry_run)
    result.removals += _orphans(root, now=now, dry_run=dry_run)
    result.removals += stale_partials(root, PARTIAL_AGE_SECONDS, dry_run=dry_run)
    result.removals += orphan_locks(
        root, set(WorkshopItem.objects.values_list("steam_id", flat=True)), dry_run=dry_run
    )
    verb = "would remove" if dry_run else "removed"
    for removal in result.removals:
        log(f"{verb} {removal.path.relative_to(root.parent)} ({human_bytes(removal.size)}): {removal.why}")
    log(
        f"{'would free' if dry_run else 'freed'} {result.freed} bytes ({human_bytes(result.freed)}); "
        f"{result.waiting} unlinked item(s) in their grace period"
    )
    return result


def _mark_unlinked(
    moment: datetime, *, root: Path, host: Host, now: bool, dry_run: bool, result: CollectResult
) -> list[tuple[WorkshopItem, datetime | None]]:
    """Start the grace period of items that lost their last link, end it for linked ones; the
    items whose grace is over (all unlinked ones with `now`), each with when it began.

    Grace of an item no overlay anywhere links: WorkshopItem.unlinked_since. Of one in this
    host's cache linked only on other hosts: this host's own mark (Host.cache_unlinked)."""
    if not dry_run:
        WorkshopItem.objects.filter(overlay_links__isnull=False, unlinked_since__isnull=False).update(
            unlinked_since=None
        )
        WorkshopItem.objects.filter(overlay_links__isnull=True, unlinked_since__isnull=True).update(
            unlinked_since=moment
        )
    here = OverlayWorkshopItem.objects.filter(overlay__host=host).values("item_id")
    unlinked = WorkshopItem.objects.exclude(pk__in=here)
    nowhere = list(unlinked.filter(overlay_links__isnull=True).only("steam_id", "unlinked_since"))
    elsewhere = list(
        unlinked.filter(overlay_links__isnull=False, steam_id__in=ids_on_disk(root))
        .distinct()
        .only("steam_id", "unlinked_since")
    )
    marks = {item.steam_id: host.cache_unlinked.get(item.steam_id, moment.isoformat()) for item in elsewhere}
    if not dry_run and marks != host.cache_unlinked:
        Host.objects.filter(pk=host.pk).update(cache_unlinked=marks)
    candidates = [(item, item.unlinked_since) for item in nowhere]
    candidates += [(item, datetime.fromisoformat(marks[item.steam_id])) for item in elsewhere]
    cutoff = moment - timedelta(seconds=settings.WORKSHOP_CACHE_GRACE)
    due = [(item, since) for item, since in candidates if now or (since is not None and since <= cutoff)]
    result.waiting = len(candidates) - len(due)
    return due


def _linked_anywhere(steam_id: str) -> Callable[[], bool]:
    return lambda: OverlayWorkshopItem.objects.filter(item__steam_id=steam_id).exists()


def _linked(steam_id: str, host: Host) -> Callable[[], bool]:
    return lambda: OverlayWorkshopItem.objects.filter(item__steam_id=steam_id, overlay__host=host).exists()


def _extra_versions(root: Path, dry_run: bool) -> list[Removal]:
    """Uploads older than the newest and WORKSHOP_KEEP_VERSIONS earlier ones, unless pinned."""
    pinned = pinned_versions()
    removals = []
    for steam_id in sorted(ids_on_disk(root)):
        for version in kept_versions(root, steam_id)[settings.WORKSHOP_KEEP_VERSIONS + 1 :]:
            if version not in pinned.get(steam_id, set()):
                removal = collect_version(root, steam_id, version, dry_run=dry_run)
                removals += [removal] if removal else []
    return removals


def _orphans(root: Path, *, now: bool, dry_run: bool) -> list[Removal]:
    """Files of ids the database does not know (left by a restore or a removed row), after the grace."""
    known = set(WorkshopItem.objects.values_list("steam_id", flat=True))
    removals = []
    for steam_id in sorted(ids_on_disk(root) - known):
        files = item_files(root, steam_id)  # the current file, else its kept uploads
        if files and (now or all(changed_before(path, settings.WORKSHOP_CACHE_GRACE) for path in files)):
            removals += collect_item(
                root,
                steam_id,
                why="an item the database does not know",
                still_wanted=_linked_anywhere(steam_id),
                dry_run=dry_run,
            )
    return removals
