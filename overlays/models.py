from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models


class Overlay(models.Model):
    """A directory tree a game server layers over its install."""

    class Kind(models.TextChoices):
        WORKSHOP = "workshop", "Workshop"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="overlays")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WORKSHOP)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="overlay_name_unique_per_owner")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def path(self) -> Path:
        return settings.OVERLAYS_ROOT / str(self.pk)

    @property
    def addons_path(self) -> Path:
        return self.path / "left4dead2" / "addons"
