from django.contrib import admin

from workshop.models import OverlayWorkshopCollection, OverlayWorkshopItem, WorkshopItem


@admin.register(WorkshopItem)
class WorkshopItemAdmin(admin.ModelAdmin):
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


@admin.register(OverlayWorkshopItem)
class OverlayWorkshopItemAdmin(admin.ModelAdmin):
    list_display = ("overlay", "item", "added_at")
    list_select_related = ("overlay", "item")
    search_fields = ("overlay__name", "item__steam_id", "item__title")


@admin.register(OverlayWorkshopCollection)
class OverlayWorkshopCollectionAdmin(admin.ModelAdmin):
    list_display = ("overlay", "steam_id", "added_at")
    search_fields = ("overlay__name", "steam_id")
