from __future__ import annotations

from django.contrib import admin

from workshop.models import WorkshopItem


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
