"""The overlay page's item list: search, state filter, sort and pages, a bounded number of queries
whatever the overlay's size (see bench/pages.py)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Q

from jobs.models import Job, JobItem
from overlays.contents import addon_flags, kinds_of
from overlays.items import earlier_upload
from overlays.models import (
    LinkQuerySet,
    Overlay,
    OverlayCollectionItem,
    OverlayWorkshopCollection,
    OverlayWorkshopItem,
)
from overlays.states import FILTERS, PINNABLE, ROLLBACKABLE, LinkState, looks_at_disk, shown

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
            state=state if state in FILTERS else "",
            sort=sort if sort in SORTS else "title",
        )

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.state)


@dataclass(frozen=True)
class Row:
    """One item of the page as shown: the link (with its item) and its state in words."""

    link: OverlayWorkshopItem
    state: LinkState
    label: str  # the badge: "cached", "downloading 42%", "failed: <why>"
    sources: str
    update_available: bool
    kinds: list[str] = field(default_factory=list)  # what the addon is, from its addoninfo.txt
    earlier_kept: bool = False  # an earlier upload is kept in the cache: Roll back can apply

    @property
    def update(self) -> LinkState | None:
        """The second badge of a pinned item whose Steam upload is newer."""
        return LinkState.UPDATE if self.update_available else None

    @property
    def pinned_upload(self) -> datetime | None:
        """When Steam got the upload the item is pinned to (what the pinned badge names)."""
        version = self.link.pinned_version
        return datetime.fromtimestamp(version, tz=UTC) if version is not None else None

    @property
    def can_pin(self) -> bool:
        return self.state in PINNABLE

    @property
    def can_unpin(self) -> bool:
        return self.state == LinkState.PINNED

    @property
    def can_roll_back(self) -> bool:
        return self.state in ROLLBACKABLE and self.earlier_kept


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
    return page, _rows(overlay, page_links, _holders(page_links, collections), active)


def item_rows(overlay: Overlay, steam_ids: Sequence[str], *, active: Mapping[str, int]) -> list[Row]:
    """The rows of these items as the page shows them (what its live part redraws)."""
    links = list(
        links_of(overlay).filter(item__steam_id__in=list(steam_ids)).annotate(addon_flags=addon_flags())
    )
    members = OverlayCollectionItem.objects.filter(
        collection__overlay=overlay, item_id__in=[link.item_id for link in links]
    ).select_related("collection")
    holders: dict[int, list[str]] = defaultdict(list)
    for member in members:
        holders[member.item_id].append(member.collection.label)
    return _rows(overlay, links, holders, active)


def _rows(
    overlay: Overlay,
    links: Sequence[OverlayWorkshopItem],
    holders: Mapping[int, list[str]],
    active: Mapping[str, int],
) -> list[Row]:
    # The cache files are on the overlay's host: a web host of a fleet has none to look at.
    look = overlay.host.is_here
    return [
        _row(overlay, link, holders.get(link.item_id, []), active.get(link.item.steam_id), look=look)
        for link in links
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


def _row(
    overlay: Overlay, link: OverlayWorkshopItem, holders: list[str], percent: int | None, *, look: bool = True
) -> Row:
    """`percent`: how far the running build's download of it is, None when it downloads nothing;
    `look`: the cache is on this machine, so one stat corrects what the rows recorded (and a
    listing of its kept uploads says whether Roll back applies)."""
    item = link.item
    recorded = LinkState(getattr(link, "state", LinkState.CACHED))
    live = JobItem.State.DOWNLOADING if percent is not None else None
    disk = item.cache_state() if look and looks_at_disk(recorded, live) else None
    badge = shown(recorded, disk, live, percent=percent or 0, why=item.last_error, conflict=link.conflict)
    sources = (["direct"] if link.direct else []) + holders
    pinned = link.pinned_version
    return Row(
        link=link,
        state=badge.state,
        label=badge.label,
        sources=", ".join(sources) or "a collection it has left",
        update_available=pinned is not None and item.time_updated > pinned,
        kinds=kinds_of(getattr(link, "addon_flags", None)),
        earlier_kept=look and badge.state in ROLLBACKABLE and earlier_upload(overlay, link) is not None,
    )


def live_items(build: Job | None, steam_ids: Sequence[str]) -> dict[str, dict[str, object]]:
    """steam id -> {state, label, percent} of the shown items the latest build has touched."""
    if build is None or not steam_ids:
        return {}
    live: dict[str, dict[str, object]] = {}
    for item in build.items.filter(key__in=list(steam_ids)):
        badge = shown(None, live=item.state, percent=item.percent, why=item.error)
        live[item.key] = {"state": badge.state.value, "label": badge.label, "percent": item.percent}
    return live


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
    if settings.WORKSHOP_LINK_MODE == "hardlink":
        return [
            Mount(
                "Bind mount or Docker (the folder holds the files themselves)",
                f"docker run … -v {overlay.addons_path}:/server/left4dead2/addons:ro …",
                f"Or: mount --bind {overlay.addons_path} {server}/left4dead2/addons. Hard links "
                "(WORKSHOP_LINK_MODE=hardlink): no cache path is needed inside the server; it loads "
                "new addons at its next map change or when left4me applies them.",
            )
        ]
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
