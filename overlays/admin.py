from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from left4me.http import AuthenticatedHttpRequest, request_user
from overlays.models import (
    Overlay,
    OverlayCollectionItem,
    OverlayWorkshopCollection,
    OverlayWorkshopExclusion,
    OverlayWorkshopItem,
    UserQuota,
)
from overlays.quotas import quota_of
from overlays.services import OverlayError, build_enqueue, overlay_delete_enqueue, overlay_refresh_enqueue
from workshop.admin import WorkshopItemAdmin
from workshop.models import WorkshopItem


@admin.register(Overlay)
class OverlayAdmin(admin.ModelAdmin[Overlay]):
    list_display = ("name", "owner", "kind", "deleting", "created_at", "updated_at")
    list_filter = ("kind", "owner")
    search_fields = ("name", "owner__username")
    actions = ("refresh_from_steam", "rebuild")

    def save_model(
        self, request: HttpRequest, obj: Overlay, form: forms.ModelForm[Overlay], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        obj.addons_path.mkdir(parents=True, exist_ok=True)  # as the pages make it

    def delete_model(self, request: HttpRequest, obj: Overlay) -> None:
        overlay_delete_enqueue(overlay=obj, user=request_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Overlay]) -> None:
        for overlay in queryset:
            overlay_delete_enqueue(overlay=overlay, user=request_user(request))

    @admin.action(description="Refresh from Steam")
    def refresh_from_steam(self, request: AuthenticatedHttpRequest, queryset: QuerySet[Overlay]) -> None:
        for overlay in queryset:
            try:
                job, _created = overlay_refresh_enqueue(overlay=overlay, user=request.user)
            except OverlayError as exc:
                self.message_user(request, f"{overlay}: {exc}", messages.WARNING)
            else:
                self.message_user(request, f"{overlay}: refresh_overlay job {job.pk}")

    @admin.action(description="Rebuild")
    def rebuild(self, request: AuthenticatedHttpRequest, queryset: QuerySet[Overlay]) -> None:
        for overlay in queryset:
            job = build_enqueue(overlay=overlay, user=request.user, reason="rebuild")
            self.message_user(request, f"{overlay}: build_overlay job {job.pk}")


@admin.register(OverlayWorkshopItem)
class OverlayWorkshopItemAdmin(admin.ModelAdmin[OverlayWorkshopItem]):
    list_display = ("overlay", "item", "direct", "added_at")
    list_filter = ("direct",)
    list_select_related = ("overlay", "item")
    search_fields = ("overlay__name", "item__steam_id", "item__title")


class OverlayCollectionItemInline(admin.TabularInline[OverlayCollectionItem, OverlayWorkshopCollection]):
    model = OverlayCollectionItem
    raw_id_fields = ("item",)
    extra = 0


@admin.register(OverlayCollectionItem)
class OverlayCollectionItemAdmin(admin.ModelAdmin[OverlayCollectionItem]):
    list_display = ("collection", "item")
    list_select_related = ("collection__overlay", "item")
    search_fields = ("collection__steam_id", "collection__title", "item__steam_id", "item__title")


@admin.register(OverlayWorkshopCollection)
class OverlayWorkshopCollectionAdmin(admin.ModelAdmin[OverlayWorkshopCollection]):
    list_display = ("overlay", "steam_id", "title", "added_at")
    search_fields = ("overlay__name", "steam_id", "title")
    inlines = [OverlayCollectionItemInline]


@admin.register(OverlayWorkshopExclusion)
class OverlayWorkshopExclusionAdmin(admin.ModelAdmin[OverlayWorkshopExclusion]):
    list_display = ("overlay", "item", "created_at")
    list_select_related = ("overlay", "item")
    search_fields = ("overlay__name", "item__steam_id", "item__title")


class WorkshopItemRefreshAdmin(WorkshopItemAdmin):
    """The item admin of workshop, with the action that needs overlays: refresh those using them."""

    actions = ("refresh",)

    @admin.action(description="Refresh")
    def refresh(self, request: AuthenticatedHttpRequest, queryset: QuerySet[WorkshopItem]) -> None:
        """Refresh (and rebuild) every overlay that uses one of the selected items."""
        overlays = Overlay.objects.filter(workshop_links__item__in=queryset).distinct()
        for overlay in overlays:
            job, _created = overlay_refresh_enqueue(overlay=overlay, user=request.user)
            self.message_user(request, f"{overlay}: refresh_overlay job {job.pk}")
        if not overlays:
            self.message_user(request, "no overlay uses these items", messages.WARNING)


admin.site.unregister(WorkshopItem)
admin.site.register(WorkshopItem, WorkshopItemRefreshAdmin)


@admin.register(UserQuota)
class UserQuotaAdmin(admin.ModelAdmin[UserQuota]):
    list_display = ("user", "max_overlays", "max_bytes", "use")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)

    @admin.display(description="use against the limits in force")
    def use(self, quota: UserQuota) -> str:
        return quota_of(quota.user).summary


class UserQuotaInline(admin.StackedInline[UserQuota, User]):
    """A user's own limits, on their page in the admin."""

    model = UserQuota
    can_delete = True
    max_num = 1


class UserWithQuotaAdmin(UserAdmin[User]):
    inlines = [*UserAdmin.inlines, UserQuotaInline]


admin.site.unregister(User)
admin.site.register(User, UserWithQuotaAdmin)
