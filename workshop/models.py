from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import models

from workshop.cache import CacheState, cache_path, cache_state
from workshop.steam import item_url


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
