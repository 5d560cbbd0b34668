from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from overlays.models import Overlay
from overlays.services import OverlayError
from workshop.services import build_enqueue, overlay_refresh_enqueue


@admin.register(Overlay)
class OverlayAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "kind", "created_at", "updated_at")
    list_filter = ("kind", "owner")
    search_fields = ("name", "owner__username")
    actions = ("refresh_from_steam", "rebuild")

    @admin.action(description="Refresh from Steam")
    def refresh_from_steam(self, request: HttpRequest, queryset: QuerySet[Overlay]) -> None:
        for overlay in queryset:
            try:
                job, _created = overlay_refresh_enqueue(overlay=overlay, user=request.user)
            except OverlayError as exc:
                self.message_user(request, f"{overlay}: {exc}", messages.WARNING)
            else:
                self.message_user(request, f"{overlay}: refresh_overlay job {job.pk}")

    @admin.action(description="Rebuild")
    def rebuild(self, request: HttpRequest, queryset: QuerySet[Overlay]) -> None:
        for overlay in queryset:
            job = build_enqueue(overlay=overlay, user=request.user)
            self.message_user(request, f"{overlay}: build_overlay job {job.pk}")
