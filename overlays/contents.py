"""What an overlay's items hold, from their stored VPK contents: the campaigns and their maps per
game mode, what each addon is, and the files two or more items provide (conflicts)."""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.db.models import F, JSONField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, NullIf

from overlays.models import Overlay, OverlayFileConflict, OverlayWorkshopItem
from workshop.models import ADDON_KINDS, WorkshopItem, WorkshopItemContents
from workshop.vpk import GAME_MODES, paths_pack, paths_unpack

ALL_MAPS = "all"  # maps.txt?mode=all: every map the overlay provides

# Files every addon ships by convention: the engine merges or ignores them, so two addons that
# both have one do not break each other (see README "Conflicts").
CONVENTION_FILES = frozenset(
    {
        "addoninfo.txt",
        "addonimage.jpg",
        "addonimage.vtf",
        "sound/sound.cache",
    }
)
# The *_addon.nut hooks (mapspawn_addon.nut, director_base_addon.nut, scriptedmode_addon.nut,
# response_testbed_addon.nut...) are run once per addon that has one, not overridden.
CONVENTION_PATTERNS = ("scripts/vscripts/*_addon.nut",)


class FamilyError(ValueError):
    """Why a "same family" marking was refused (shown to the owner)."""


def linked_version() -> Coalesce:
    """The upload an overlay link uses: its pin, else what the cache holds (else Steam's newest)."""
    return Coalesce(
        F("item__overlay_links__pinned_version"),
        NullIf(F("item__cached_version"), 0),
        F("item__time_updated"),
    )


def _contents_of(overlay: Overlay) -> Q:
    return Q(item__overlay_links__overlay=overlay, version=linked_version())


# --- campaigns and maps -------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRow:
    steam_id: str
    item_title: str
    name: str
    modes: dict[str, list[str]]
    problem: str


@dataclass(frozen=True)
class ItemMapsRow:
    """An item's maps no campaign of the overlay names, and the names it has that are not map
    names (left out of every list)."""

    steam_id: str
    item_title: str
    maps: list[str]
    left_out: list[str]


@dataclass(frozen=True)
class CampaignsPanel:
    campaigns: list[CampaignRow] = field(default_factory=list)
    items: list[ItemMapsRow] = field(default_factory=list)

    def maps(self, mode: str) -> list[str]:
        """Every map of the mode, campaign after campaign, each once; for ``all``, every map the
        overlay provides: the campaigns' maps of every mode, then the maps without a campaign."""
        if mode == ALL_MAPS:
            named = (m for c in self.campaigns for maps in c.modes.values() for m in maps)
            return list(dict.fromkeys([*named, *self.maps_without_campaign]))
        return list(dict.fromkeys(m for c in self.campaigns for m in c.modes.get(mode, [])))

    @property
    def maps_without_campaign(self) -> list[str]:
        return [m for row in self.items for m in row.maps]

    @property
    def mode_lists(self) -> list[tuple[str, str]]:
        """(mode, its maps one a line) for the modes that have any, then ``all``."""
        return [(mode, "\n".join(maps)) for mode in (*GAME_MODES, ALL_MAPS) if (maps := self.maps(mode))]


def campaigns_panel(overlay: Overlay) -> CampaignsPanel:
    """The campaigns and maps of the overlay's linked uploads, read from their contents (one
    query; the build stores them on the overlay: see stored_panel)."""
    rows = list(
        WorkshopItemContents.objects.filter(_contents_of(overlay))
        .exclude(campaigns=[], maps=[], maps_left_out=[])
        .order_by("item__title", "item__steam_id")
        .values_list("item__steam_id", "item__title", "campaigns", "maps", "maps_left_out")
    )
    campaigns = [
        CampaignRow(steam_id, title or f"item {steam_id}", c["name"] or c["file"], c["modes"], c["problem"])
        for steam_id, title, item_campaigns, _maps, _left_out in rows
        for c in item_campaigns
    ]
    named = {m.lower() for c in campaigns for maps in c.modes.values() for m in maps}
    items = [
        ItemMapsRow(
            steam_id, title or f"item {steam_id}", [m for m in maps if m.lower() not in named], left_out
        )
        for steam_id, title, _campaigns, maps, left_out in rows
    ]
    return CampaignsPanel(campaigns, [row for row in items if row.maps or row.left_out])


def stored_panel(overlay: Overlay) -> CampaignsPanel:
    """The panel as the last build stored it on the overlay (no query). The items' rows are kept
    in the same list as the campaigns' (they have "maps" where a campaign has "modes")."""
    rows = overlay.campaigns
    return CampaignsPanel(
        [CampaignRow(**row) for row in rows if "maps" not in row],
        [ItemMapsRow(**row) for row in rows if "maps" in row],
    )


def overlay_campaigns_store(*, overlay: Overlay) -> int:
    """Store the campaigns panel on the overlay; the number of campaigns."""
    panel = campaigns_panel(overlay)
    overlay.campaigns = [asdict(row) for row in panel.campaigns] + [asdict(row) for row in panel.items]
    Overlay.objects.filter(pk=overlay.pk).update(campaigns=overlay.campaigns)
    return len(panel.campaigns)


def addon_flags() -> Subquery:
    """The addonContent flags of a link's linked upload, as a subquery for the page's rows (so
    they cost no query of their own)."""
    version = Coalesce(
        OuterRef("pinned_version"),
        NullIf(OuterRef("item__cached_version"), 0),
        OuterRef("item__time_updated"),
    )
    rows = WorkshopItemContents.objects.filter(item=OuterRef("item"), version=version)
    return Subquery(rows.values("flags")[:1], output_field=JSONField())


def kinds_of(flags: Sequence[str] | None) -> list[str]:
    return [ADDON_KINDS.get(flag, flag) for flag in flags or []]


# --- conflicts ------------------------------------------------------------------------------------


def is_convention_file(path: str) -> bool:
    return path in CONVENTION_FILES or any(fnmatch.fnmatchcase(path, p) for p in CONVENTION_PATTERNS)


def find_conflicts(
    provided: Iterable[tuple[str, Iterable[str]]], families: dict[str, str]
) -> dict[tuple[str, ...], list[str]]:
    """(sorted steam ids) -> the paths all of them provide, from (steam id, its paths).

    A path is not a conflict when every item providing it is in one family."""
    # Set operations keep the per-path work in C: 2,000 items of 1,000 files in well under 1 s.
    seen: set[str] = set()
    shared: set[str] = set()
    listed: list[tuple[str, Sequence[str]]] = []
    for steam_id, paths in provided:
        own = paths if isinstance(paths, Sequence) else list(paths)
        shared.update(seen.intersection(own))
        seen.update(own)
        listed.append((steam_id, own))
    owners: dict[str, list[str]] = defaultdict(list)
    for steam_id, own in listed:
        for path in shared.intersection(own):
            owners[path].append(steam_id)
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path, ids in owners.items():
        if len({families.get(sid) or sid for sid in ids}) > 1 and not is_convention_file(path):
            groups[tuple(sorted(ids))].append(path)
    return {ids: sorted(paths) for ids, paths in groups.items()}


def overlay_conflicts_compute(*, overlay: Overlay) -> int:
    """Find and store the overlay's file conflicts from its items' stored contents; their number."""
    rows = WorkshopItemContents.objects.filter(_contents_of(overlay), readable=True).values_list(
        "item__steam_id", "paths"
    )
    families = dict(overlay.workshop_links.exclude(family="").values_list("item__steam_id", "family"))
    groups = find_conflicts(((sid, paths_unpack(blob)) for sid, blob in rows.iterator()), families)
    _store_conflicts(overlay, groups)
    return len(groups)


@transaction.atomic
def _store_conflicts(overlay: Overlay, groups: dict[tuple[str, ...], list[str]]) -> None:
    overlay.file_conflicts.all().delete()
    OverlayFileConflict.objects.bulk_create(
        OverlayFileConflict(
            overlay=overlay, steam_ids=list(ids), path_count=len(paths), paths=paths_pack(paths)
        )
        for ids, paths in groups.items()
    )
    Overlay.objects.filter(pk=overlay.pk).update(file_conflict_count=len(groups))
    overlay.file_conflict_count = len(groups)


def conflicts_shown(
    overlay: Overlay, *, limit: int = 50
) -> list[tuple[OverlayFileConflict, list[str], list[str]]]:
    """The stored conflicts with their paths and the titles of their items (two queries), the
    biggest first."""
    conflicts = list(overlay.file_conflicts.all()[:limit])
    ids = {sid for conflict in conflicts for sid in conflict.steam_ids}
    titles = dict(WorkshopItem.objects.filter(steam_id__in=ids).values_list("steam_id", "title"))
    return [
        (c, c.path_list, [titles.get(sid) or f"workshop item {sid}" for sid in c.steam_ids])
        for c in conflicts
    ]


# --- "same family" ----------------------------------------------------------------------------------


@transaction.atomic
def overlay_family_mark(*, overlay: Overlay, steam_ids: Sequence[str], same: bool = True) -> int:
    """Mark the items as one family (their shared files are not conflicts), or (same=False) take
    them out of theirs; then the conflicts are found again. Returns the number of conflicts."""
    links = OverlayWorkshopItem.objects.filter(overlay=overlay, item__steam_id__in=list(steam_ids))
    found = dict(links.values_list("item__steam_id", "family"))
    unknown = sorted(set(steam_ids) - set(found))
    if unknown:
        raise FamilyError(f"not in this overlay: {', '.join(unknown)}")
    if not same:
        links.update(family="")
    elif len(found) < 2:
        raise FamilyError("Select at least two items of one family.")
    else:
        label = min((f for f in found.values() if f), default=min(found, key=int))
        old = {f for f in found.values() if f}
        OverlayWorkshopItem.objects.filter(overlay=overlay, family__in=old).update(family=label)
        links.update(family=label)
    return overlay_conflicts_compute(overlay=overlay)


def contents_context(overlay: Overlay) -> dict[str, object]:
    """The overlay page's campaigns panel and conflicts, as the last build stored them (one query,
    and only when there are conflicts)."""
    shown = conflicts_shown(overlay) if overlay.file_conflict_count else []
    return {"campaigns": stored_panel(overlay), "file_conflicts": shown}


def overlay_contents_refresh(*, overlay: Overlay) -> int:
    """Store the overlay's campaigns panel and conflicts again from its items' contents; the
    number of conflicts (the build calls it when the linked set changed, the reindex job always)."""
    overlay_campaigns_store(overlay=overlay)
    return overlay_conflicts_compute(overlay=overlay)
