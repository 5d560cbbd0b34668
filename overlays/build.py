"""The build of an overlay: download what is missing or stale, then reconcile addons/ links."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import F

from jobs.models import JobItem
from jobs.runner import JobCancelled, JobContext, JobFailed, JobRetryable
from left4me.disk import free_bytes
from left4me.units import human_bytes
from overlays.contents import overlay_contents_refresh
from overlays.models import Overlay, pinned_versions
from overlays.signals import addons_changed, disk_low, items_updated
from overlays.states import DOWNLOAD_ENDED
from workshop.cache import CacheState, cache_path, link_name, partial_path, prune_versions, version_path
from workshop.contents import item_contents_store
from workshop.downloads import DownloadHooks, DownloadOutcome, DownloadStatus, download_many
from workshop.models import WorkshopItem, WorkshopItemContents
from workshop.services import items_stamp_downloads
from workshop.steam import RESULT_OK


@dataclass(frozen=True)
class LinkResult:
    created: int = 0
    removed: int = 0
    unchanged: int = 0
    conflicts: dict[str, str] = field(default_factory=dict)  # steam id -> what is in the way


@dataclass(frozen=True)
class _Entry:
    """One entry of addons/: its link text and where that resolves (both None: not a link);
    `hard`: a file left4me hard-linked there (WORKSHOP_LINK_MODE=hardlink, listed in MANIFEST)."""

    text: str | None
    resolved: str | None
    hard: bool = False


# The names of the hard links left4me made in addons/: a hard link looks like any file, so
# this list is what tells left4me's from the operator's own files.
MANIFEST = ".left4me-hardlinks"
# A build's summary line names this many updated items (a log line, a notice: not a list).
SUMMARY_NAMED = 20
IDS_PER_QUERY = 500  # ids in one IN (...): SQLite takes at most 999 parameters


def cache_file(steam_id: str) -> Path:
    return cache_path(settings.WORKSHOP_CACHE_ROOT, steam_id)


def overlay_reconcile_links(
    *, overlay: Overlay, steam_ids: Iterable[str], versions: dict[str, int] | None = None
) -> LinkResult:
    """Make addons/ hold exactly one `<steam_id>.vpk` link into the cache per wanted item.

    Links are relative (`../../../../workshop_cache/<id>.vpk`), so the data folder can be moved or
    mounted anywhere; links left4me made with an absolute target are rewritten. Links into the
    cache whose item is not wanted are removed. Anything else under a wanted name (a regular
    file, a folder, a link pointing outside the cache) is the operator's: it is left as it is
    and reported as a conflict. An item in `versions` (pinned) links to that kept upload.
    """
    addons = overlay.addons_path
    addons.mkdir(parents=True, exist_ok=True)
    wanted = {link_name(sid): sid for sid in steam_ids}
    existing = _entries_in(addons)
    removed = _remove_unwanted(addons, existing, wanted)
    created, unchanged, conflicts = _link_wanted(addons, existing, wanted, versions or {})
    hard = settings.WORKSHOP_LINK_MODE == "hardlink"
    _manifest_write(addons, {name for name, sid in wanted.items() if sid not in conflicts} if hard else set())
    return LinkResult(created=created, removed=removed, unchanged=unchanged, conflicts=conflicts)


def _manifest_read(addons: Path) -> set[str]:
    try:
        return set((addons / MANIFEST).read_text().split())
    except FileNotFoundError:
        return set()


def _manifest_write(addons: Path, names: set[str]) -> None:
    if names == _manifest_read(addons):
        return
    if not names:
        _unlink_quietly(addons / MANIFEST)
        return
    tmp = addons / f"{MANIFEST}.tmp-{os.getpid()}"
    tmp.write_text("".join(f"{name}\n" for name in sorted(names)))
    os.replace(tmp, addons / MANIFEST)


def _entries_in(addons: Path) -> dict[str, _Entry]:
    hard = _manifest_read(addons)
    entries: dict[str, _Entry] = {}
    with os.scandir(addons) as it:
        for entry in it:
            if entry.name == MANIFEST:
                continue
            if entry.is_symlink():
                entries[entry.name] = _link_entry(addons, entry)
            else:
                entries[entry.name] = _Entry(None, None, hard=entry.name in hard and entry.is_file())
    return entries


def _link_entry(addons: Path, entry: os.DirEntry[str]) -> _Entry:
    try:
        text = os.readlink(entry.path)
    except OSError:
        return _Entry(None, None)
    return _Entry(text, os.path.normpath(os.path.join(addons, text)))


def _made_by_us(name: str, entry: _Entry) -> bool:
    """A link into the cache, or one left4me made before the data folder moved (a dangling
    absolute link to `<old root>/workshop_cache/<name>`)."""
    if entry.hard:
        return True
    if entry.resolved is None:
        return False
    root = str(settings.WORKSHOP_CACHE_ROOT)
    if os.path.commonpath([entry.resolved, root]) == root:
        return True
    folder = os.path.dirname(entry.resolved)
    return os.path.basename(entry.resolved) == name and os.path.basename(folder) == "workshop_cache"


def _remove_unwanted(addons: Path, existing: dict[str, _Entry], wanted: dict[str, str]) -> int:
    removed = 0
    for name, entry in existing.items():
        if name not in wanted and _made_by_us(name, entry):
            _unlink_quietly(addons / name)
            removed += 1
    return removed


def _link_wanted(
    addons: Path, existing: dict[str, _Entry], wanted: dict[str, str], versions: dict[str, int]
) -> tuple[int, int, dict[str, str]]:
    created = unchanged = 0
    conflicts: dict[str, str] = {}
    root = Path(settings.WORKSHOP_CACHE_ROOT)
    for name, steam_id in wanted.items():
        version = versions.get(steam_id)
        path = cache_file(steam_id) if version is None else version_path(root, steam_id, version)
        target = os.path.relpath(path, addons)
        entry = existing.get(name)
        if entry is not None and _is_current(addons / name, entry, path, target):
            unchanged += 1
        elif entry is None or _made_by_us(name, entry):
            _link_atomic(path, target, addons / name)
            created += 1
        else:
            conflicts[steam_id] = _in_the_way(addons / name, entry)
    return created, unchanged, conflicts


def _is_current(link: Path, entry: _Entry, path: Path, target: str) -> bool:
    """The entry is the link the mode wants: a symlink with this text, or a hard link to this
    very cache file (a download anew gives the cache file another inode: linked again)."""
    if settings.WORKSHOP_LINK_MODE != "hardlink":
        return entry.text == target
    if not entry.hard:
        return False
    try:
        return os.path.samestat(os.stat(link), os.stat(path))
    except FileNotFoundError:
        return False


def _link_atomic(path: Path, target: str, link: Path) -> None:
    if settings.WORKSHOP_LINK_MODE == "hardlink":
        _hardlink_atomic(path, link)
    else:
        _symlink_atomic(target, link)


def _in_the_way(path: Path, entry: _Entry) -> str:
    if entry.text is not None:
        return f"addons/{path.name} is a link to {entry.text}, not into the cache"
    kind = "a folder" if path.is_dir() else "a file"
    return f"addons/{path.name} is {kind} left4me did not make"


def overlay_remove_folder(*, overlay: Overlay) -> list[Path]:
    """Remove the overlay's folder: its links into the cache and the folders left4me made.
    Anything else found there is left in place; returns those entries."""
    addons, game = overlay.addons_path, overlay.addons_path.parent
    left: list[Path] = []
    if addons.is_dir():
        for name, entry in _entries_in(addons).items():
            if _made_by_us(name, entry) or (name.startswith(".") and ".tmp-" in name):
                _unlink_quietly(addons / name)
            else:
                left.append(addons / name)
    for folder, ours in ((game, addons), (overlay.path, game)):
        if folder.is_dir():
            left += [folder / name for name in os.listdir(folder) if folder / name != ours]
    _unlink_quietly(addons / MANIFEST)
    for folder in (addons, game, overlay.path):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty
    return sorted(left)


def _symlink_atomic(target: str, link: Path) -> None:
    """Create or retarget `link` in one step, so the server never sees it missing."""
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    _unlink_quietly(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _hardlink_atomic(path: Path, link: Path) -> None:
    """The same, as a hard link to the cache file: the folder then holds the files themselves."""
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    _unlink_quietly(tmp)
    os.link(path, tmp)
    os.replace(tmp, link)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# --- build ------------------------------------------------------------------------------


@dataclass
class BuildPlan:
    """What a build has to do, decided from the rows and one stat of each cache file."""

    to_download: list[WorkshopItem] = field(default_factory=list)
    on_disk: set[str] = field(default_factory=set)
    pinned: dict[str, int] = field(default_factory=dict)  # steam id -> the kept upload it stays on
    gone: list[tuple[str, bool]] = field(default_factory=list)  # no longer served: (label, kept linked)
    cached: int = 0
    skipped: int = 0


def overlay_build(*, overlay: Overlay, ctx: JobContext) -> None:
    """Download what is missing or stale, then reconcile addons/; see README "Workshop overlays"."""
    items = list(
        WorkshopItem.objects.filter(overlay_links__overlay=overlay)
        .annotate(pinned_version=F("overlay_links__pinned_version"))
        .order_by("steam_id")
    )
    plan = _build_plan(items, ctx)
    ctx.progress(items_cached=plan.cached)
    _check_disk(plan.to_download)
    done, failed, transient = _download_items(plan.to_download, ctx)
    if ctx.should_cancel():
        raise JobCancelled("cancelled before linking")
    _prune_versions(done)
    links = overlay_reconcile_links(
        overlay=overlay, steam_ids=sorted(plan.on_disk | done | set(plan.pinned)), versions=plan.pinned
    )
    for steam_id, why in sorted(links.conflicts.items()):
        ctx.log_stderr(f"workshop item {steam_id} not linked: {why}; left as it is")
    _record_conflicts(overlay, links.conflicts)
    _find_file_conflicts(overlay, done, links, ctx)
    _tell_changes(overlay, ctx, plan, done)
    ctx.log_stdout(_summary(overlay, plan, done, failed, links))
    _tell_addons_changed(overlay, ctx, links.created + links.removed + len(done & plan.on_disk))
    if failed:
        # Every failure may pass (network, 5xx, 429, stalls): the whole build is tried again later.
        error = JobRetryable if set(failed) <= transient else JobFailed
        raise error(f"download failed for {len(failed)} item(s): {', '.join(sorted(failed))}")


def _tell_changes(overlay: Overlay, ctx: JobContext, plan: BuildPlan, done: set[str]) -> None:
    """The build's summary line ("updated: Title (3 files changed); removed upstream: Old Skin
    (kept, marked)"), in its log and on its page; the owner is told of the updates."""
    updated = _updated(done)
    parts = [f"updated: {', '.join(updated)}"] if updated else []
    if plan.gone:
        gone = [f"{label} ({'kept, marked' if kept else 'not linked'})" for label, kept in plan.gone]
        more = len(gone) - SUMMARY_NAMED
        parts.append(
            f"removed upstream: {', '.join(gone[:SUMMARY_NAMED] + ([f'{more} more'] if more > 0 else []))}"
        )
    if not parts:
        return
    summary = "; ".join(parts)
    ctx.summarize(summary)
    if updated:
        items_updated.send(sender=Overlay, overlay=overlay, build=ctx.job_id, summary=summary)


def _updated(done: set[str]) -> list[str]:
    """ "Title (3 files changed)" of each item downloaded anew whose upload before is known (the
    first SUMMARY_NAMED of them by title, then how many more)."""
    ids = sorted(done)
    rows = [
        row
        for start in range(0, len(ids), IDS_PER_QUERY)
        for row in WorkshopItemContents.objects.filter(
            item__steam_id__in=ids[start : start + IDS_PER_QUERY], version=F("item__time_updated")
        )
        .exclude(changes={})
        .select_related("item")
        .defer("paths", "sums")
    ]
    rows.sort(key=lambda row: (row.item.title, row.item.steam_id))
    named = [f"{row.item.label} ({row.changes_text})" for row in rows[:SUMMARY_NAMED]]
    more = len(rows) - SUMMARY_NAMED
    return named + ([f"{more} more"] if more > 0 else [])


def _tell_addons_changed(overlay: Overlay, ctx: JobContext, items: int) -> None:
    """Links created, removed or replaced, or a linked file downloaded anew (its link stays)."""
    if items:
        addons_changed.send(sender=Overlay, overlay=overlay, build=ctx.job_id, items=items)


def _check_disk(items: list[WorkshopItem]) -> None:
    """Fail before writing when the downloads would leave less than WORKSHOP_MIN_FREE_BYTES free."""
    if not items:
        return
    root = Path(settings.WORKSHOP_CACHE_ROOT)
    need = sum(max(0, item.file_size - _partial_bytes(root, item.steam_id)) for item in items)
    free, keep = free_bytes(root), settings.WORKSHOP_MIN_FREE_BYTES
    if need > free - keep:
        disk_low.send(sender=Overlay, host=settings.LEFT4ME_HOST, free=free, need=need)
        raise JobFailed(
            f"not enough disk space: need {human_bytes(need)}, {human_bytes(free)} free "
            f"(keeping {human_bytes(keep)} free)"
        )


def _partial_bytes(root: Path, steam_id: str) -> int:
    """What an interrupted download of the item already holds (it resumes from there)."""
    try:
        return partial_path(root, steam_id).stat().st_size
    except OSError:
        return 0


def _build_plan(items: Sequence[WorkshopItem], ctx: JobContext) -> BuildPlan:
    plan = BuildPlan()
    root = Path(settings.WORKSHOP_CACHE_ROOT)
    for item in items:
        pinned = getattr(item, "pinned_version", None)
        if pinned is not None and version_path(root, item.steam_id, pinned).exists():
            plan.pinned[item.steam_id] = pinned
            plan.cached += 1
            continue
        if pinned is not None:
            ctx.log_stderr(
                f"workshop item {item.steam_id}: pinned upload {pinned} is not kept; following Steam"
            )
        state = item.cache_state()  # one stat of the cache file
        on_disk = state.on_disk
        if on_disk:
            plan.on_disk.add(item.steam_id)
        if not item.file_url:
            _skip(item, on_disk, ctx)
            plan.skipped += 1
            plan.gone.append((item.label, on_disk))
        elif item.last_downloaded_at is None or state != CacheState.CACHED:
            plan.to_download.append(item)
        else:
            plan.cached += 1
    return plan


def _prune_versions(downloaded: set[str]) -> None:
    """Keep WORKSHOP_KEEP_VERSIONS earlier uploads of what was just downloaded, and every pinned one."""
    root = Path(settings.WORKSHOP_CACHE_ROOT)
    protected = pinned_versions(downloaded)
    for steam_id in downloaded:
        prune_versions(
            root, steam_id, keep=settings.WORKSHOP_KEEP_VERSIONS, protected=protected.get(steam_id, set())
        )


def _skip(item: WorkshopItem, keep_cached: bool, ctx: JobContext) -> None:
    result = item.steam_result or "unknown"
    # Steam answered "OK" but left4me refused the record (banned, a number out of range): say why.
    why = (
        item.last_error
        if result == RESULT_OK and item.last_error
        else f"no file_url (steam result: {result})"
    )
    ctx.log_stderr(f"workshop item {item.steam_id} skipped: {why}")
    if keep_cached:
        ctx.log_stderr(
            f"warning: workshop item {item.steam_id} is no longer served by Steam; "
            "keeping its cached file linked until it is removed from the overlay"
        )


def _download_items(items: list[WorkshopItem], ctx: JobContext) -> tuple[set[str], dict[str, str], set[str]]:
    """Download `items` concurrently and stamp the rows; return (downloaded ids, failed id -> why,
    the failed ids whose failure may pass)."""
    ctx.progress(items_done=0, items_total=len(items), bytes_done=0, bytes_total=_bytes(items))
    if not items:
        return set(), {}, set()
    ctx.items_declare((item.steam_id, item.title or item.steam_id, item.file_size) for item in items)
    for item in items:
        ctx.log_stdout(f"workshop {item.steam_id} downloading: {_named(item)}")
    done, failed, transient = _run_downloads(items, ctx)
    items_stamp_downloads(items, done, failed)
    for item in items:
        if item.steam_id in done:
            _read_contents(ctx, item)
    if set(done) | set(failed) != {item.steam_id for item in items}:
        raise JobCancelled("cancelled while downloading")
    return done, failed, transient


def _bytes(items: Iterable[WorkshopItem]) -> int:
    return sum(item.file_size for item in items)


def _named(item: WorkshopItem) -> str:
    """ "Helms Deep Reborn (20.0 MiB)": what a log line adds after the item's id."""
    return f"{item.title or 'untitled'} ({human_bytes(item.file_size)})"


def _run_downloads(items: list[WorkshopItem], ctx: JobContext) -> tuple[set[str], dict[str, str], set[str]]:
    """(ids now in the cache, failed id -> why, failed ids that may pass); ids in neither of the
    first two were cancelled."""
    by_id = {item.steam_id: item for item in items}
    outcomes = download_many(
        items,
        Path(settings.WORKSHOP_CACHE_ROOT),
        ctx,
        on_item_done=_item_ended(ctx, by_id),
        concurrency=settings.WORKSHOP_DOWNLOAD_CONCURRENCY,
        hooks_for=_item_hooks(ctx),
    )
    done = {sid for sid, o in outcomes.items() if o.in_cache}
    failed = {sid: o.error for sid, o in outcomes.items() if o.status == DownloadStatus.FAILED}
    transient = {sid for sid in failed if outcomes[sid].transient}
    for steam_id, why in sorted(failed.items()):
        ctx.log_stderr(f"workshop {steam_id} download failed: {why} — {_named(by_id[steam_id])}")
    ctx.progress(items_done=len(done) + len(failed), items_failed=len(failed))
    return done, failed, transient


@dataclass(frozen=True)
class _ItemHooks:
    """The job's hooks for one item's download: its bytes count for the item and the job."""

    ctx: JobContext
    steam_id: str

    def should_cancel(self) -> bool:
        return self.ctx.should_cancel()

    def add_bytes(self, n: int) -> None:
        self.ctx.item_add_bytes(self.steam_id, n)

    def log_stderr(self, text: str) -> None:
        self.ctx.log_stderr(text)


def _item_hooks(ctx: JobContext) -> Callable[[str], DownloadHooks]:
    def hooks_for(steam_id: str) -> DownloadHooks:
        ctx.item_state(steam_id, JobItem.State.DOWNLOADING)
        return _ItemHooks(ctx, steam_id)

    return hooks_for


def _item_ended(ctx: JobContext, by_id: dict[str, WorkshopItem]) -> Callable[[str, DownloadOutcome], None]:
    """Ends the item's row as the download threads finish it (the counts follow), and says so."""

    def item_done(steam_id: str, outcome: DownloadOutcome) -> None:
        ctx.item_state(steam_id, DOWNLOAD_ENDED[outcome.status], error=outcome.error)
        if outcome.status == DownloadStatus.DOWNLOADED:
            ctx.log_stdout(f"workshop {steam_id} downloaded: {_named(by_id[steam_id])}")

    return item_done


def _read_contents(ctx: JobContext, item: WorkshopItem) -> None:
    """Store what the upload just downloaded holds (its VPK tree only; a build that downloads
    nothing reads no VPK). A campaign that cannot be read is said; the item is linked anyway."""
    row = item_contents_store(item=item, version=item.time_updated, path=cache_file(item.steam_id))
    problems = [row.problem] if not row.readable else [c["problem"] for c in row.campaigns if c["problem"]]
    if row.maps_left_out:
        problems.append(f"left out, not map names: {', '.join(row.maps_left_out)}")
    for problem in problems:
        ctx.log_stderr(f"workshop {item.steam_id}: {problem}")


def _record_conflicts(overlay: Overlay, conflicts: dict[str, str]) -> None:
    """Show on the overlay page which items an operator's own file keeps out (writes only changes)."""
    stale = overlay.workshop_links.exclude(conflict="").exclude(item__steam_id__in=list(conflicts))
    stale.update(conflict="")
    for steam_id, why in conflicts.items():
        overlay.workshop_links.filter(item__steam_id=steam_id).exclude(conflict=why).update(conflict=why)


def _find_file_conflicts(overlay: Overlay, done: set[str], links: LinkResult, ctx: JobContext) -> None:
    """Find the campaigns and the files two or more items provide again when the linked set
    changed (a build with nothing to do keeps the stored ones: it reads no contents)."""
    if done or links.created or links.removed:
        found = overlay_contents_refresh(overlay=overlay)
        if found:
            ctx.log_stderr(f"{found} group(s) of items provide the same files: see the overlay page")


def _summary(
    overlay: Overlay, plan: BuildPlan, done: set[str], failed: dict[str, str], links: LinkResult
) -> str:
    size = _bytes(item for item in plan.to_download if item.steam_id in done)
    return (
        f"workshop overlay '{overlay.name}': downloaded={len(done)} cached={plan.cached} "
        f"skipped={plan.skipped} failed={len(failed)} created={links.created} "
        f"removed={links.removed} unchanged={links.unchanged} conflicts={overlay.file_conflict_count}"
        + (f" ({human_bytes(size)} downloaded)" if size else "")
    )
