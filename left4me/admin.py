"""The admin site's own words (the apps register their models in their admin modules)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from left4me.models import Host

admin.site.site_header = "left4me administration"
admin.site.site_title = "left4me admin"
admin.site.index_title = "Overlays, workshop items and jobs"


@admin.register(Host)
class HostAdmin(admin.ModelAdmin[Host]):
    """Hosts register themselves (their worker); staff close one to all but some users, or delete
    one that holds no overlay."""

    list_display = ("name", "job_queue", "root", "status", "free_bytes", "cache_bytes", "last_seen_at")
    fields = (
        "name",
        "queue",
        "root",
        "open_to_all",
        "users",
        "free_bytes",
        "total_bytes",
        "cache_bytes",
        "health",
        "last_seen_at",
    )
    readonly_fields = ("root", "free_bytes", "total_bytes", "cache_bytes", "health", "last_seen_at")
    filter_horizontal = ("users",)
    search_fields = ("name",)


class ReadOnly:
    """Viewing only: no add, change or delete, whatever the user's permissions."""

    def has_add_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False
