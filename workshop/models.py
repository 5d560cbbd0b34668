from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import models

from workshop.downloads import cache_path, holds_upload


class WorkshopItem(models.Model):
    """One Steam Workshop item: one row and one cache file, shared by every overlay using it."""

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
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["steam_id"]

    def __str__(self) -> str:
        return f"{self.steam_id} {self.title}".strip()

    @property
    def workshop_url(self) -> str:
        return f"https://steamcommunity.com/sharedfiles/filedetails/?id={self.steam_id}"

    @property
    def steam_updated_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.time_updated, tz=UTC) if self.time_updated else None

    @property
    def cache_path(self) -> Path:
        return cache_path(settings.WORKSHOP_CACHE_ROOT, self.steam_id)

    def cache_state(self) -> str:
        """cached / stale / missing / no file, as shown on the overlay page."""
        try:
            st = os.stat(self.cache_path)
        except FileNotFoundError:
            return "missing" if self.file_url else "no file"
        if not self.file_url:
            return "cached"
        return "cached" if holds_upload(st, self) else "stale"


class OverlayWorkshopItem(models.Model):
    overlay = models.ForeignKey("overlays.Overlay", on_delete=models.CASCADE, related_name="workshop_links")
    item = models.ForeignKey(WorkshopItem, on_delete=models.CASCADE, related_name="overlay_links")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["overlay", "item"], name="overlay_item_unique")]

    def __str__(self) -> str:
        return f"{self.overlay} ← {self.item.steam_id}"


class OverlayWorkshopCollection(models.Model):
    """A collection an owner added: a refresh expands it again and picks up new children."""

    overlay = models.ForeignKey(
        "overlays.Overlay", on_delete=models.CASCADE, related_name="workshop_collections"
    )
    steam_id = models.CharField(max_length=20)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["overlay", "steam_id"], name="overlay_collection_unique")
        ]

    def __str__(self) -> str:
        return f"{self.overlay} ← collection {self.steam_id}"
