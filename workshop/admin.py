from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join

from left4me.admin import ReadOnly
from workshop.models import WorkshopItem, WorkshopItemContents


class ContentsInline(ReadOnly, admin.StackedInline[WorkshopItemContents, WorkshopItem]):
    """What each read upload holds; read-only (the build and the reindex job write it)."""

    model = WorkshopItemContents
    extra = 0
    can_delete = False
    fields = (
        "version",
        "readable",
        "problem",
        "title",
        "addon_version",
        "author",
        "kinds",
        "campaign_maps",
        "file_count",
        "has_vscripts",
        "read_at",
    )
    readonly_fields = fields

    @admin.display(description="is")
    def kinds(self, row: WorkshopItemContents) -> str:
        return ", ".join(row.kinds) or "-"

    @admin.display(description="campaigns")
    def campaign_maps(self, row: WorkshopItemContents) -> str:
        lines = [
            (
                c["name"] or c["file"],
                c["problem"] or "; ".join(f"{m}: {' '.join(maps)}" for m, maps in c["modes"].items()),
            )
            for c in row.campaigns
        ]
        return format_html_join("", "<div><b>{}</b> {}</div>", lines) or "-"


@admin.register(WorkshopItem)
class WorkshopItemAdmin(admin.ModelAdmin[WorkshopItem]):
    list_display = (
        "steam_id",
        "title",
        "file_size",
        "time_updated",
        "steam_result",
        "last_downloaded_at",
        "last_error",
    )
    list_filter = ("steam_result", "consumer_app_id")
    search_fields = ("steam_id", "title", "filename")
    inlines = [ContentsInline]


@admin.register(WorkshopItemContents)
class WorkshopItemContentsAdmin(ReadOnly, admin.ModelAdmin[WorkshopItemContents]):
    """Every read upload; written by the build and the reindex job only."""

    list_display = ("item", "version", "readable", "title", "file_count", "has_vscripts", "read_at")
    list_filter = ("readable", "has_vscripts")
    search_fields = ("item__steam_id", "title", "author")
    exclude = ("paths",)
