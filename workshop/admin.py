from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from overlays.models import Overlay
from workshop.models import OverlayWorkshopCollection, OverlayWorkshopItem, WorkshopItem
from workshop.services import overlay_refresh_enqueue


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
    actions = ("refresh",)

    @admin.action(description="Refresh")
    def refresh(self, request: HttpRequest, queryset: QuerySet[WorkshopItem]) -> None:
        """Refresh (and rebuild) every overlay that uses one of the selected items."""
        overlays = Overlay.objects.filter(workshop_links__item__in=queryset).distinct()
        for overlay in overlays:
            job, _created = overlay_refresh_enqueue(overlay=overlay, user=request.user)
            self.message_user(request, f"{overlay}: refresh_overlay job {job.pk}")
        if not overlays:
            self.message_user(request, "no overlay uses these items", messages.WARNING)


@admin.register(OverlayWorkshopItem)
class OverlayWorkshopItemAdmin(admin.ModelAdmin):
    list_display = ("overlay", "item", "added_at")
    list_select_related = ("overlay", "item")
    search_fields = ("overlay__name", "item__steam_id", "item__title")


@admin.register(OverlayWorkshopCollection)
class OverlayWorkshopCollectionAdmin(admin.ModelAdmin):
    list_display = ("overlay", "steam_id", "added_at")
    search_fields = ("overlay__name", "steam_id")
