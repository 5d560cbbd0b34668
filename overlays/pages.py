"""The overlay page's item list: search, state filter, sort and pages, a bounded number of queries
whatever the overlay's size (see bench/pages.py)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Q

from jobs.models import Job, JobItem
from overlays.contents import addon_flags, kinds_of
from overlays.models import (
    LinkQuerySet,
    LinkState,
    Overlay,
    OverlayCollectionItem,
    OverlayWorkshopCollection,
    OverlayWorkshopItem,
)
from workshop.cache import CacheState
from workshop.models import WorkshopItem

ITEMS_PER_PAGE = 100
SEARCH_MAX_CHARS = 100
# sort key -> ORDER BY; the steam id last, so equal titles or sizes keep one order across pages.
SORTS: dict[str, tuple[str, ...]] = {
    "title": ("item__title", "item__steam_id"),
    "-title": ("-item__title", "-item__steam_id"),
    "size": ("item__file_size", "item__steam_id"),
    "-size": ("-item__file_size", "item__steam_id"),
    "updated": ("item__time_updated", "item__steam_id"),
    "-updated": ("-item__time_updated", "item__steam_id"),
}
SORT_LABELS = {
    "title": "Title A to Z",
    "-title": "Title Z to A",
    "size": "Smallest first",
    "-size": "Largest first",
    "updated": "Oldest update first",
    "-updated": "Newest update first",
}


@dataclass(frozen=True)
class ItemQuery:
    """What the filter form asks for; anything unknown falls back to the default."""

    q: str = ""
    state: str = ""
    sort: str = "title"

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ItemQuery:
        state = params.get("state", "")
        sort = params.get("sort", "title")
        return cls(
            q=params.get("q", "").strip()[:SEARCH_MAX_CHARS],
            state=state if state in LinkState.values else "",
            sort=sort if sort in SORTS else "title",
        )

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.state)


@dataclass(frozen=True)
class Row:
    """One item of the page as shown: the link (with its item) and its state in words."""

    link: OverlayWorkshopItem
    state: str  # a LinkState value, or "missing"
    label: str  # the badge: "cached", "downloading 42%", "failed: <why>"
    sources: str
    update_available: bool
    kinds: list[str] = field(default_factory=list)  # what the addon is, from its addoninfo.txt


def downloading(build: Job | None) -> dict[str, int]:
    """steam id -> percent done of what the active build is downloading now (as many rows as
    downloads run at once)."""
    if build is None or not build.is_active:
        return {}
    return {item.key: item.percent for item in build.items.filter(state=JobItem.State.DOWNLOADING)}


def links_of(overlay: Overlay) -> LinkQuerySet:
    return OverlayWorkshopItem.objects.filter(overlay=overlay).select_related("item").with_state()


def search(links: LinkQuerySet, query: ItemQuery, downloading: Sequence[str]) -> LinkQuerySet:
    if query.q:
        match = Q(item__title__icontains=query.q)
        if query.q.isdigit():
            match |= Q(item__steam_id__startswith=query.q)
        links = links.filter(match)
    if query.state == LinkState.DOWNLOADING:
        links = links.filter(item__steam_id__in=list(downloading))
    elif query.state:
        links = links.in_state(LinkState(query.state))
    return links.order_by(*SORTS[query.sort])


def item_page(
    overlay: Overlay,
    query: ItemQuery,
    page_number: str | None,
    *,
    total: int,
    collections: Sequence[OverlayWorkshopCollection],
    active: Mapping[str, int],
) -> tuple[Page[OverlayWorkshopItem], list[Row]]:
    """The asked page of the overlay's items and its rows; `total` (all the links) saves the
    count query when nothing is filtered; `active`: what the build is downloading."""
    links = search(links_of(overlay), query, list(active)).annotate(addon_flags=addon_flags())
    paginator = Paginator(links, ITEMS_PER_PAGE)
    if not query.filtered:
        paginator.count = total  # the same number, already counted
    page = paginator.get_page(page_number)
    page_links = list(page.object_list)
    holders = _holders(page_links, collections)
    # The cache files are on the overlay's host: a web host of a fleet has none to look at.
    look = overlay.host.is_here
    return page, [
        _row(link, holders.get(link.item_id, []), active.get(link.item.steam_id), look=look)
        for link in page_links
    ]


def _holders(
    links: Sequence[OverlayWorkshopItem], collections: Sequence[OverlayWorkshopCollection]
) -> dict[int, list[str]]:
    """item id -> the labels of the followed collections holding it (for this page's items)."""
    if not collections or not links:
        return {}
    labels = {collection.pk: collection.label for collection in collections}
    members = OverlayCollectionItem.objects.filter(
        collection__in=collections, item_id__in=[link.item_id for link in links]
    ).values_list("item_id", "collection_id")
    holders: dict[int, list[str]] = defaultdict(list)
    for item_id, collection_id in members:
        holders[item_id].append(labels[collection_id])
    return holders


def _row(link: OverlayWorkshopItem, holders: list[str], percent: int | None, *, look: bool = True) -> Row:
    """`percent`: how far the running build's download of it is, None when it downloads nothing;
    `look`: the cache is on this machine, so one stat corrects what the rows recorded."""
    item = link.item
    state: str = getattr(link, "state", LinkState.CACHED)
    if percent is not None:
        state = LinkState.DOWNLOADING
    elif look and state in FROM_DISK:
        state = _on_disk(item, state)
    sources = (["direct"] if link.direct else []) + holders
    pinned = link.pinned_version
    return Row(
        link=link,
        state=state,
        label=_label(link, state, percent),
        sources=", ".join(sources) or "a collection it has left",
        update_available=pinned is not None and item.time_updated > pinned,
        kinds=kinds_of(getattr(link, "addon_flags", None)),
    )


# The rows say these from what the last download recorded; one stat of the cache file says
# what is there now (an operator may have removed it, or an item may predate the record).
FROM_DISK = (LinkState.CACHED, LinkState.UPDATE, LinkState.WAITING)


def _on_disk(item: WorkshopItem, recorded: str) -> str:
    found = item.cache_state()
    if found == CacheState.CACHED:
        return LinkState.CACHED
    if found == CacheState.STALE:
        return LinkState.UPDATE
    return LinkState.WAITING if recorded == LinkState.WAITING else "missing"


def _label(link: OverlayWorkshopItem, state: str, percent: int | None) -> str:
    if state == LinkState.DOWNLOADING:
        return f"downloading {percent}%"
    if state == LinkState.SKIPPED and link.conflict:
        return f"not linked: {link.conflict}"
    if state == LinkState.SKIPPED:
        return f"skipped: {link.item.last_error or 'steam serves no file'}"
    if state == LinkState.FAILED:
        return f"failed: {link.item.last_error.removeprefix('download failed: ')}"
    if state == "missing":
        return "not in the cache"
    return str(LinkState(state).label)


def live_items(build: Job | None, steam_ids: Sequence[str]) -> dict[str, dict[str, object]]:
    """steam id -> {state, label, percent} of the shown items the latest build has touched."""
    if build is None or not steam_ids:
        return {}
    live: dict[str, dict[str, object]] = {}
    for item in build.items.filter(key__in=list(steam_ids)):
        label = JOB_ITEM_LABELS.get(item.state, item.state)
        if item.state == JobItem.State.DOWNLOADING:
            label = f"downloading {item.percent}%"
        elif item.state == JobItem.State.FAILED:
            label = f"failed: {item.error}"
        live[item.key] = {
            "state": JOB_ITEM_STATES.get(item.state, item.state),
            "label": label,
            "percent": item.percent,
        }
    return live


# A build's item states (jobs.models.JobItem) as the overlay page names them.
JOB_ITEM_STATES = {"queued": LinkState.WAITING, "done": LinkState.CACHED, "cached": LinkState.CACHED}
JOB_ITEM_LABELS = {"queued": "waiting", "done": "cached", "cached": "cached", "skipped": "skipped"}


@dataclass(frozen=True)
class Mount:
    """One way to give a game server the overlay: a title, what to run, and a note."""

    title: str
    command: str
    note: str


def use_with_server(overlay: Overlay, server: str = "/srv/l4d2") -> list[Mount]:
    """Copyable examples for a server installed at `server`. The overlay's links are relative
    (`../../../../workshop_cache/<id>.vpk`): seen through a mount, they resolve four folders above
    the addons/ folder they are in, so each example makes the cache visible there."""
    cache = settings.WORKSHOP_CACHE_ROOT
    merged = f"{settings.OVERLAYS_ROOT.parent}/mounts/{overlay.pk}"  # as deep as the overlay's folder
    reach, in_docker = links_reach(f"{server}/left4dead2/addons"), links_reach("/server/left4dead2/addons")
    return [
        Mount(
            "overlayfs (the server's files below, the overlay on top)",
            f"mkdir -p {merged} {server}-upper {server}-work\n"
            f"mount -t overlay overlay -o lowerdir={overlay.path}:{server},"
            f"upperdir={server}-upper,workdir={server}-work {merged}\n"
            f"# start the server from {merged}",
            "The merged folder sits as deep in the data folder as the overlay's own, so the links reach workshop_cache/.",
        ),
        Mount(
            "Bind mount (the overlay's addons/ as the server's)",
            f"mount --bind {overlay.addons_path} {server}/left4dead2/addons\n"
            f"mkdir -p {reach} && mount --bind {cache} {reach}",
            f"Links resolve four folders above {server}/left4dead2/addons: the cache must be at {reach}.",
        ),
        Mount(
            "Docker (server installed at /server in the container)",
            f"docker run … -v {overlay.addons_path}:/server/left4dead2/addons:ro -v {cache}:{in_docker}:ro …",
            "Read-only: left4me keeps the folder current; restart the server (or change map) to load new addons.",
        ),
    ]


def links_reach(addons: str) -> str:
    """Where the overlay's relative links look for the cache when its addons/ is seen at `addons`."""
    return os.path.normpath(f"{addons}/../../../../workshop_cache")
