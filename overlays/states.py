"""What an overlay's item shows, in one place.

Three things say it: what the rows recorded (the SQL rules below, so pages filter and count by
it), what one stat of the cache file finds (the disk correction), and what a running build says
of the item (its job item's state). `shown` is the one function from those three to the state
and the label the overlay page, its live status and its filter show.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.db.models import Case, F, Q, Value, When

from jobs.models import JobItem
from workshop.cache import CacheState
from workshop.downloads import DownloadStatus


class LinkState(models.TextChoices):
    """What an overlay's item shows; the value is its CSS class and filter value, the label its
    name in the state filter and on its badge (unless `shown` says more: the why, the percent)."""

    CACHED = "cached", "cached"
    DOWNLOADING = "downloading", "downloading"
    WAITING = "waiting", "waiting"
    UPDATE = "update", "update available"
    PINNED = "pinned", "pinned"
    SKIPPED = "skipped", "skipped"
    FAILED = "failed", "failed"
    MISSING = "missing", "not in the cache"


# --- what the rows recorded (SQL) ---------------------------------------------------------------

# The first rule that holds names a link's recorded state; none: cached. Skipped: Steam serves no
# file of it, or the operator's own file is in its place. Failed: its last download failed.
RECORDED_RULES: tuple[tuple[LinkState, Q], ...] = (
    (LinkState.SKIPPED, ~Q(conflict="") | Q(item__file_url="")),
    (LinkState.FAILED, ~Q(item__last_error="")),
    (LinkState.PINNED, Q(pinned_version__isnull=False)),
    (LinkState.WAITING, Q(item__cached_version=0)),
    (LinkState.UPDATE, ~Q(item__cached_version=F("item__time_updated"))),
)
RECORDED = (*(state for state, _ in RECORDED_RULES), LinkState.CACHED)


def recorded_q(state: LinkState) -> Q:
    """Links whose first matching rule is `state` (CACHED: none matches)."""
    if state not in RECORDED:
        raise ValueError(f"the rows record no {state.value!r}: a build or the disk says it")
    q = Q()
    for other, rule in RECORDED_RULES:
        if other == state:
            return q & rule
        q &= ~rule
    return q


def recorded_case() -> Case:
    """The recorded state of each link as a column (a LinkState value)."""
    whens = [When(rule, then=Value(state.value)) for state, rule in RECORDED_RULES]
    return Case(*whens, default=Value(LinkState.CACHED.value))


# What the state filter offers: what the rows record, and what the running build downloads.
# Not MISSING: only a stat of each file can say it.
FILTERS = (*RECORDED, LinkState.DOWNLOADING)
FILTER_CHOICES = [(state.value, state.label) for state in LinkState if state in FILTERS]

# The overlay's health ("20/21 ready · 1 failed · 3.2 GB") counts links by recorded state: ready
# is in its folder as wanted, cached at Steam's upload or pinned.
READY = (LinkState.PINNED, LinkState.CACHED)

# --- what is on disk ----------------------------------------------------------------------------

# The rows say these from what the last download recorded; one stat of the cache file says
# what is there now (an operator may have removed it, or an item may predate the record).
FROM_DISK = (LinkState.CACHED, LinkState.UPDATE, LinkState.WAITING)


def looks_at_disk(recorded: LinkState, live: str | None) -> bool:
    """Whether `shown` would use a stat of the cache file (pages skip the stat otherwise)."""
    return live is None and recorded in FROM_DISK


def _on_disk(recorded: LinkState, disk: CacheState) -> LinkState:
    if disk == CacheState.CACHED:
        return LinkState.CACHED
    if disk == CacheState.STALE:
        return LinkState.UPDATE
    return LinkState.WAITING if recorded == LinkState.WAITING else LinkState.MISSING


# --- what a running build says ------------------------------------------------------------------

# The state of an item's row on the build's job page once its download ended (cancelled: not ended).
DOWNLOAD_ENDED = {
    DownloadStatus.DOWNLOADED: JobItem.State.DONE,
    DownloadStatus.CACHED: JobItem.State.CACHED,
    DownloadStatus.FAILED: JobItem.State.FAILED,
    DownloadStatus.SKIPPED: JobItem.State.SKIPPED,
    DownloadStatus.CANCELLED: JobItem.State.QUEUED,
}

# A build's item states as the overlay page names them.
FROM_BUILD = {
    JobItem.State.QUEUED: LinkState.WAITING,
    JobItem.State.DOWNLOADING: LinkState.DOWNLOADING,
    JobItem.State.DONE: LinkState.CACHED,
    JobItem.State.CACHED: LinkState.CACHED,
    JobItem.State.FAILED: LinkState.FAILED,
    JobItem.State.SKIPPED: LinkState.SKIPPED,
}

# --- what the item shows ------------------------------------------------------------------------

# What the owner may do with an item in each state (the row's buttons).
PINNABLE = (LinkState.CACHED, LinkState.UPDATE)
ROLLBACKABLE = (LinkState.CACHED, LinkState.UPDATE, LinkState.PINNED)


@dataclass(frozen=True)
class Shown:
    """An item's badge: its state (the CSS class) and what it reads."""

    state: LinkState
    label: str


def shown(
    recorded: LinkState | None,
    disk: CacheState | None = None,
    live: str | None = None,
    *,
    percent: int = 0,
    why: str = "",
    conflict: str = "",
) -> Shown:
    """What an item shows: what a running build says of it (`live`, a JobItem state) first;
    else what the rows recorded, corrected by the cache file when it was looked at (`disk`:
    None when the cache is on another host). `percent`: of its download; `why`: the item's last
    error (or the build item's); `conflict`: what in addons/ keeps it from being linked."""
    if live is not None:
        state = FROM_BUILD[JobItem.State(live)]
    elif recorded is None:
        raise ValueError("an item shows what its rows recorded or what a build says of it")
    elif disk is not None and recorded in FROM_DISK:
        state = _on_disk(recorded, disk)
    else:
        state = recorded
    return Shown(state, _label(state, built=live is not None, percent=percent, why=why, conflict=conflict))


def _label(state: LinkState, *, built: bool, percent: int, why: str, conflict: str) -> str:
    if state == LinkState.DOWNLOADING:
        return f"downloading {percent}%"
    if state == LinkState.SKIPPED and conflict:
        return f"not linked: {conflict}"
    if state == LinkState.SKIPPED and not built:  # a build's skip reads "skipped" until the page reloads
        return f"skipped: {why or 'steam serves no file'}"
    if state == LinkState.FAILED:
        return f"failed: {why.removeprefix('download failed: ')}"
    return str(state.label)
