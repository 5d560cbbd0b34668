from __future__ import annotations

from django.contrib import admin

from notices.models import Destination


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin[Destination]):
    """The URL is a secret: the admin shows it masked, as the page does, and never edits it."""

    list_display = ("name", "user", "shown_url", "failures", "disabled_at", "last_sent_at")
    list_filter = ("disabled_at",)
    fields = ("user", "name", "shown_url", "events", "failures", "last_error", "last_sent_at", "disabled_at")
    readonly_fields = ("user", "shown_url", "failures", "last_error", "last_sent_at")
