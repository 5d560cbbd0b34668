from django.contrib import admin

from overlays.models import Overlay


@admin.register(Overlay)
class OverlayAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "kind", "created_at", "updated_at")
    list_filter = ("kind", "owner")
    search_fields = ("name", "owner__username")
