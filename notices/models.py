from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models


class Destination(models.Model):
    """Where one user's notices go: an apprise URL (a secret: never shown back in full) and
    the events it takes."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_destinations"
    )
    name = models.CharField(max_length=100)
    url = models.TextField(help_text="the apprise URL (discord://..., mailto://..., ntfy://...)")
    events = models.JSONField(default=list, blank=True, help_text="the events it takes; empty: all")
    created_at = models.DateTimeField(auto_now_add=True)
    failures = models.PositiveIntegerField(default=0, help_text="deliveries failed in a row")
    last_error = models.CharField(max_length=300, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(
        null=True, blank=True, help_text="set when its delivery kept failing; a test enables it again"
    )

    class Meta:
        ordering = ["user", "name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.shown_url})"

    @property
    def shown_url(self) -> str:
        """The scheme and a masked host ("discord://12…89/…"): enough to tell one from another."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        masked = f"{host[:2]}…{host[-2:]}" if len(host) > 6 else "…"
        return f"{parts.scheme}://{masked}/…"

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def takes(self, event: str) -> bool:
        return not self.events or event in self.events


class Notice(models.Model):
    """One event told to one destination; delivered (with the others waiting) by its job."""

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="notices")
    event = models.CharField(max_length=40)
    title = models.CharField(max_length=255)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["destination", "id"]
        indexes = [models.Index(fields=["destination", "sent_at"])]

    def __str__(self) -> str:
        return f"{self.event}: {self.title}"
