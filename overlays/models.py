from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Count, Sum
from django.urls import reverse

from left4me.models import Host, host_default_pk
from overlays.states import READY, LinkState, recorded_case, recorded_q
from workshop.models import WorkshopItem
from workshop.steam import item_url
from workshop.vpk import paths_unpack


class Overlay(models.Model):
    """A directory tree a game server layers over its install."""

    class Kind(models.TextChoices):
        WORKSHOP = "workshop", "Workshop"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="overlays")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WORKSHOP)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleting = models.BooleanField(
        default=False, help_text="a delete job is removing it; hidden from the pages"
    )
    campaigns = models.JSONField(
        default=list,
        blank=True,
        help_text="the campaigns of its linked uploads and their maps, as the last build found them",
    )
    file_conflict_count = models.IntegerField(
        default=0, help_text="groups of items providing the same files, as the last build found them"
    )
    host = models.ForeignKey(
        Host,
        on_delete=models.PROTECT,
        related_name="overlays",
        default=host_default_pk,
        help_text="the machine holding its folder; its jobs run on that host's queue",
    )
    moving_to = models.ForeignKey(
        Host,
        on_delete=models.PROTECT,
        related_name="arriving_overlays",
        null=True,
        blank=True,
        help_text="a move job is building it on this host; then its folder on the old host goes",
    )
    share_token = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text="the players' page is at /p/<this>/ while set; empty: no players' page",
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="overlay_name_unique_per_owner")
        ]
        # Powers over other users' things and the shared cache; the group "Operators" holds
        # them (migration 0009). Staff status alone only opens the admin site.
        permissions = [
            ("manage_all_overlays", "see and change every user's overlays"),
            ("view_storage", "see the workshop cache and collect it, and read /healthz's detail"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("overlays:detail", args=[self.pk])

    @property
    def share_url(self) -> str:
        """The players' page (a path), or '' while it is off."""
        return reverse("players:page", args=[self.share_token]) if self.share_token else ""

    @property
    def path(self) -> Path:
        """Its folder in this process's data folder (a worker of its host: where the files are)."""
        return settings.OVERLAYS_ROOT / str(self.pk)

    @property
    def host_path(self) -> str:
        """Its folder on its host, as that host's worker reported its data folder (this
        machine's own when it is that host)."""
        if self.host.is_here:
            return str(self.path)
        root = self.host.root.rstrip("/") or "<data folder of the host, not reported yet>"
        return f"{root}/overlays/{self.pk}"

    @property
    def addons_path(self) -> Path:
        return self.path / "left4dead2" / "addons"


@dataclass(frozen=True)
class Health:
    """How an overlay's items stand: "20/21 ready · 1 failed · 3.2 GB"."""

    total: int = 0
    ready: int = 0
    failed: int = 0
    skipped: int = 0
    size: int = 0
    pinned: int = 0

    @classmethod
    def of(cls, rows: Iterable[tuple[str, int, int | None]]) -> Health:
        """From rows of (recorded state, links, their bytes)."""
        links: Counter[str] = Counter()
        size = 0
        for state, count, state_size in rows:
            links[state] += count
            size += state_size or 0
        return cls(
            total=links.total(),
            ready=sum(links[state] for state in READY),
            failed=links[LinkState.FAILED],
            skipped=links[LinkState.SKIPPED],
            size=size,
            pinned=links[LinkState.PINNED],
        )


class LinkQuerySet(models.QuerySet["OverlayWorkshopItem"]):
    def with_state(self) -> LinkQuerySet:
        """Annotate `state`, what the rows recorded (a LinkState value; `shown` says what the
        item shows from it), in the query that loads the page's rows."""
        return self.annotate(state=recorded_case())

    def in_state(self, state: LinkState) -> LinkQuerySet:
        """The links whose rows record `state` (not DOWNLOADING nor MISSING: see overlays.states)."""
        return self.filter(recorded_q(state))

    def health(self) -> Health:
        """Counts and size of these links (one query)."""
        return Health.of(self._by_recorded_state())

    def health_by_overlay(self) -> dict[int, Health]:
        """overlay id -> the Health of its links among these (one query)."""
        rows: dict[int, list[tuple[str, int, int | None]]] = defaultdict(list)
        for pk, *counts in self._by_recorded_state("overlay_id"):
            rows[pk].append(tuple(counts))
        return {pk: Health.of(counts) for pk, counts in rows.items()}

    def _by_recorded_state(self, *keys: str) -> models.QuerySet[OverlayWorkshopItem, tuple[Any, ...]]:
        """(*keys, recorded state, links, their bytes) rows: grouped by one CASE, which Django
        builds in half the time of a filtered count per state."""
        grouped = self.order_by().annotate(state=recorded_case()).values_list(*keys, "state")
        return grouped.annotate(count=Count("id"), size=Sum("item__file_size"))


class OverlayWorkshopItem(models.Model):
    """An item in an overlay: added by its owner (`direct`), or through a followed collection
    that holds it (OverlayCollectionItem), or both."""

    overlay = models.ForeignKey(Overlay, on_delete=models.CASCADE, related_name="workshop_links")
    item = models.ForeignKey(WorkshopItem, on_delete=models.CASCADE, related_name="overlay_links")
    direct = models.BooleanField(default=True, help_text="added by the owner, not only through a collection")
    pinned_version = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="the upload (Steam's time_updated) the overlay stays on; empty: follow Steam",
    )
    skipped_version = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="the upload the owner skipped: the pin holds until Steam has a newer one",
    )
    conflict = models.CharField(
        max_length=255,
        blank=True,
        help_text="what in addons/ keeps the item from being linked (the operator's own file)",
    )
    family = models.CharField(
        max_length=20,
        blank=True,
        help_text="items with the same family (marked by the owner) may share files: not a conflict",
    )
    added_at = models.DateTimeField(auto_now_add=True)

    objects = LinkQuerySet.as_manager()

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["overlay", "item"], name="overlay_item_unique")]

    def __str__(self) -> str:
        return f"{self.overlay} ← {self.item.steam_id}"


class OverlayFileConflict(models.Model):
    """Files that two or more of an overlay's items provide (the later one loaded wins in game),
    found by the build from the stored VPK contents (overlays.contents)."""

    overlay = models.ForeignKey(Overlay, on_delete=models.CASCADE, related_name="file_conflicts")
    steam_ids = models.JSONField(default=list, help_text="the items sharing the files, sorted")
    path_count = models.IntegerField(default=0)
    paths = models.BinaryField(default=b"", help_text="zlib of the newline-joined shared paths")

    class Meta:
        ordering = ["overlay", "-path_count", "id"]

    def __str__(self) -> str:
        return f"{self.overlay}: {' + '.join(self.steam_ids)} ({self.path_count} files)"

    @property
    def path_list(self) -> list[str]:
        return paths_unpack(self.paths)


class OverlayWorkshopCollection(models.Model):
    """A collection an owner added: a refresh expands it again and picks up new children."""

    overlay = models.ForeignKey(Overlay, on_delete=models.CASCADE, related_name="workshop_collections")
    steam_id = models.CharField(max_length=20)
    title = models.CharField(max_length=255, blank=True)
    left_out = models.PositiveIntegerField(
        default=0,
        help_text="children not linked at the last add or refresh: unusable, or past the overlay's limit",
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["overlay", "steam_id"], name="overlay_collection_unique")
        ]

    def __str__(self) -> str:
        return f"{self.overlay} ← collection {self.steam_id}"

    @property
    def workshop_url(self) -> str:
        return item_url(self.steam_id)

    @property
    def label(self) -> str:
        return self.title or f"collection {self.steam_id}"


class OverlayCollectionItem(models.Model):
    """A followed collection holds this item (as Steam last listed it)."""

    collection = models.ForeignKey(
        OverlayWorkshopCollection, on_delete=models.CASCADE, related_name="members"
    )
    item = models.ForeignKey(WorkshopItem, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "item"], name="collection_item_unique")]

    def __str__(self) -> str:
        return f"{self.collection} holds {self.item_id}"


class OverlayWorkshopExclusion(models.Model):
    """The owner removed an item a followed collection holds: no refresh brings it back."""

    overlay = models.ForeignKey(Overlay, on_delete=models.CASCADE, related_name="workshop_exclusions")
    item = models.ForeignKey(WorkshopItem, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["overlay", "item"], name="overlay_exclusion_unique")]

    def __str__(self) -> str:
        return f"{self.overlay} excludes {self.item_id}"


class UserQuota(models.Model):
    """One user's own limits; an empty field means the default (LEFT4ME_QUOTA_*), which staff
    are exempt from."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota")
    max_overlays = models.PositiveIntegerField(
        null=True, blank=True, help_text="most overlays; empty: LEFT4ME_QUOTA_OVERLAYS (staff: no limit)"
    )
    max_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="most bytes of workshop items in all of the user's overlays (200 GiB = 214748364800); "
        "empty: LEFT4ME_QUOTA_BYTES (staff: no limit)",
    )

    class Meta:
        verbose_name = "user quota"

    def __str__(self) -> str:
        return f"quota of {self.user}"


def pinned_versions(steam_ids: Iterable[str] | None = None) -> dict[str, set[int]]:
    """steam id -> the uploads some overlay is pinned to (never pruned nor collected)."""
    pins = OverlayWorkshopItem.objects.filter(pinned_version__isnull=False)
    if steam_ids is not None:
        pins = pins.filter(item__steam_id__in=list(steam_ids))
    pinned: dict[str, set[int]] = {}
    for steam_id, version in pins.values_list("item__steam_id", "pinned_version"):
        if version is not None:
            pinned.setdefault(steam_id, set()).add(version)
    return pinned
