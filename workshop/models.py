from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import models

from workshop.cache import CacheState, cache_path, cache_state
from workshop.changes import changes_text
from workshop.steam import item_url
from workshop.vpk import paths_unpack, sums_unpack


class WorkshopItem(models.Model):
    """One Steam Workshop item: one row and one cache file, shared by everything that uses it."""

    steam_id = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=255, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    file_url = models.TextField(blank=True)
    file_size = models.BigIntegerField(default=0)
    time_updated = models.BigIntegerField(default=0, help_text="Steam's time_updated (epoch seconds)")
    preview_url = models.TextField(blank=True)
    consumer_app_id = models.IntegerField(default=0)
    steam_result = models.IntegerField(default=0, help_text="Steam's per-item result code (1 is ok)")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_downloaded_at = models.DateTimeField(null=True, blank=True)
    cached_version = models.BigIntegerField(
        default=0, help_text="the upload (Steam's time_updated) the last download put in the cache; 0: none"
    )
    last_error = models.TextField(blank=True)
    unlinked_since = models.DateTimeField(
        null=True, blank=True, help_text="when garbage collection first saw no overlay linking it"
    )

    class Meta:
        ordering = ["steam_id"]

    def __str__(self) -> str:
        return f"{self.steam_id} {self.title}".strip()

    @property
    def label(self) -> str:
        """Its Steam title, or its id while Steam has given none."""
        return self.title or f"item {self.steam_id}"

    @property
    def workshop_url(self) -> str:
        return item_url(self.steam_id)

    @property
    def steam_updated_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.time_updated, tz=UTC) if self.time_updated else None

    @property
    def cache_path(self) -> Path:
        return cache_path(settings.WORKSHOP_CACHE_ROOT, self.steam_id)

    def cache_state(self) -> CacheState:
        """cached / stale / missing / no file, as shown on the overlay page (one stat)."""
        return cache_state(self, settings.WORKSHOP_CACHE_ROOT)


class WorkshopItemContents(models.Model):
    """What one upload (version) of an item holds, read from its VPK tree (workshop.vpk)."""

    item = models.ForeignKey(WorkshopItem, on_delete=models.CASCADE, related_name="contents")
    version = models.BigIntegerField(help_text="the upload read (Steam's time_updated)")
    readable = models.BooleanField(default=True)
    problem = models.TextField(blank=True, help_text="why the file or its addoninfo.txt could not be read")
    title = models.CharField(max_length=255, blank=True, help_text="addoninfo.txt addontitle")
    addon_version = models.CharField(max_length=64, blank=True)
    author = models.CharField(max_length=255, blank=True)
    flags = models.JSONField(default=list, blank=True, help_text='addonContent_* set: ["campaign", "map"]')
    campaigns = models.JSONField(default=list, blank=True, help_text="missions/*.txt: name and maps per mode")
    maps = models.JSONField(default=list, blank=True, help_text="maps/*.bsp it ships, campaign maps or not")
    maps_left_out = models.JSONField(
        default=list,
        blank=True,
        help_text="map names of its maps/ or missions that are not map names (escaped)",
    )
    file_count = models.IntegerField(default=0)
    paths = models.BinaryField(default=b"", help_text="zlib of the newline-joined file paths")
    sums = models.BinaryField(
        default=b"", help_text="zlib of each file's CRC32 and size, in the order of paths"
    )
    changes = models.JSONField(
        default=dict,
        blank=True,
        help_text="what changed against the upload read before it (workshop.changes); empty: the first",
    )
    has_vscripts = models.BooleanField(default=False)
    file_size = models.BigIntegerField(default=0, help_text="bytes of the upload's file")
    arrived_at = models.DateTimeField(
        auto_now_add=True, null=True, help_text="when the upload was first read (downloaded)"
    )
    read_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "version"], name="contents_one_per_version")]
        ordering = ["item", "-version"]
        verbose_name_plural = "workshop item contents"

    def __str__(self) -> str:
        return f"{self.item_id}@{self.version}"

    @property
    def path_list(self) -> list[str]:
        return paths_unpack(self.paths)

    @property
    def files(self) -> dict[str, tuple[int, int] | None]:
        """path -> (CRC32, size); the sums are None on a row read before they were kept."""
        paths, sums = self.path_list, sums_unpack(self.sums)
        return dict(zip(paths, sums, strict=True)) if sums else dict.fromkeys(paths)

    @property
    def all_maps(self) -> set[str]:
        """The maps it ships and the maps its campaigns name."""
        named = {name for c in self.campaigns for maps in c.get("modes", {}).values() for name in maps}
        return set(self.maps) | named

    @property
    def campaign_names(self) -> set[str]:
        return {c["name"] for c in self.campaigns if c.get("name")}

    @property
    def changes_text(self) -> str:
        return changes_text(self.changes)

    @property
    def kinds(self) -> list[str]:
        """What the addon is, in words, from its addonContent flags."""
        return [ADDON_KINDS.get(flag, flag) for flag in self.flags]


# addonContent_<flag> -> what the overlay page calls it
ADDON_KINDS = {
    "campaign": "campaign",
    "map": "map",
    "survivor": "survivor model",
    "weapon": "weapon",
    "weaponmodel": "weapon model",
    "script": "script",
    "skin": "skin",
    "prop": "prop",
    "music": "music",
    "sound": "sound",
    "spray": "spray",
    "prefab": "prefab",
    "bossinfected": "special infected",
    "commoninfected": "common infected",
    "backgroundmovie": "menu background",
}
