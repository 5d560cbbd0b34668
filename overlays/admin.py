from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from left4me.admin import ReadOnly
from left4me.forms import SizeField
from left4me.http import AuthenticatedHttpRequest, request_user
from left4me.units import human_bytes
from overlays.models import (
    Overlay,
    OverlayCollectionItem,
    OverlayFileConflict,
    OverlayWorkshopCollection,
    OverlayWorkshopExclusion,
    OverlayWorkshopItem,
    UserQuota,
)
from overlays.quotas import quota_of
from overlays.services import (
    OverlayError,
    build_enqueue,
    latest_file_job,
    overlay_create,
    overlay_create_check,
    overlay_delete_enqueue,
    overlay_refresh_enqueue,
)
from workshop.admin import WorkshopItemAdmin
from workshop.models import WorkshopItem


class OverlayAddForm(forms.ModelForm[Overlay]):
    """Who owns the new overlay and its name, checked as the pages check them (quota, name)."""

    class Meta:
        model = Overlay
        fields = ("owner", "name")

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        owner, name = cleaned.get("owner"), cleaned.get("name")
        if owner is not None and name is not None:
            try:
                cleaned["name"] = overlay_create_check(owner=owner, name=name)
            except OverlayError as exc:
                self.add_error("name", str(exc))
        return cleaned

    def validate_unique(self) -> None:
        """overlay_create_check names a taken name in its own words."""


@admin.register(Overlay)
class OverlayAdmin(admin.ModelAdmin[Overlay]):
    """Overlays are made and deleted through overlays.services, as the pages do: creating checks
    the owner's quota and the name and makes the folder; deleting queues the job that removes it."""

    list_display = ("name", "owner", "kind", "deleting", "created_at", "updated_at")
    list_filter = ("kind", "owner")
    search_fields = ("name", "owner__username")
    actions = ("refresh_from_steam", "rebuild")
    readonly_fields = (
        "owner",
        "kind",
        "deleting",
        "folder",
        "items",
        "latest_build",
        "created_at",
        "updated_at",
    )

    def get_form(
        self, request: HttpRequest, obj: Overlay | None = None, change: bool = False, **kwargs: object
    ) -> type[forms.ModelForm[Overlay]]:
        if obj is None:
            kwargs["form"] = OverlayAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Overlay | None = None) -> tuple[str, ...]:
        return () if obj is None else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: Overlay | None = None) -> tuple[str, ...]:
        return ("owner", "name") if obj is None else ("name", *self.readonly_fields)

    def save_model(
        self, request: HttpRequest, obj: Overlay, form: forms.ModelForm[Overlay], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = overlay_create(owner=obj.owner, name=obj.name)
        obj.pk, obj.kind, obj.created_at, obj.updated_at = (
            created.pk,
            created.kind,
            created.created_at,
            created.updated_at,
        )
        obj._state.adding, obj._state.db = False, created._state.db

    def delete_model(self, request: HttpRequest, obj: Overlay) -> None:
        overlay_delete_enqueue(overlay=obj, user=request_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Overlay]) -> None:
        for overlay in queryset:
            overlay_delete_enqueue(overlay=overlay, user=request_user(request))

    @admin.display(description="items")
    def items(self, overlay: Overlay) -> str:
        """A count and links, not every item inline: an overlay of 400 items is one short page."""
        count = overlay.workshop_links.count()
        listing = reverse("admin:overlays_overlayworkshopitem_changelist")
        return format_html(
            '{} item{} · <a href="{}?overlay__id__exact={}">list them</a> · <a href="{}">the overlay page</a>',
            count,
            "" if count == 1 else "s",
            listing,
            overlay.pk,
            overlay.get_absolute_url(),
        )

    @admin.display(description="folder")
    def folder(self, overlay: Overlay) -> str:
        return str(overlay.path)

    @admin.display(description="latest build")
    def latest_build(self, overlay: Overlay) -> str:
        job = latest_file_job(overlay)
        if job is None:
            return "none yet"
        return format_html(
            '<a href="{}">{}</a> ({}, {})',
            reverse("jobs:detail", args=[job.pk]),
            job.title,
            job.get_state_display(),
            date_format(timezone.localtime(job.created_at), "Y-m-d H:i:s"),
        )

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
            self.message_user(request, f"{overlay}: {job.operation} job {job.pk}")


@admin.register(OverlayWorkshopItem)
class OverlayWorkshopItemAdmin(admin.ModelAdmin[OverlayWorkshopItem]):
    list_display = ("overlay", "item", "direct", "pinned_version", "conflict", "added_at")
    list_per_page = 100
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


@admin.register(OverlayFileConflict)
class OverlayFileConflictAdmin(ReadOnly, admin.ModelAdmin[OverlayFileConflict]):
    """Files two or more items of an overlay provide, as its last build found them."""

    list_display = ("overlay", "steam_ids", "path_count")
    exclude = ("paths",)


class UserQuotaForm(forms.ModelForm[UserQuota]):
    max_bytes = SizeField(
        required=False,
        label="Max size",
        help_text="most workshop items in all of the user's overlays, as in 200 GiB, 500 MiB or 10 GB "
        "(GiB = 1024 MiB, GB = 1000 MB), or bytes; empty: LEFT4ME_QUOTA_BYTES (staff: no limit)",
    )

    class Meta:
        model = UserQuota
        fields = ("user", "max_overlays", "max_bytes")


@admin.register(UserQuota)
class UserQuotaAdmin(admin.ModelAdmin[UserQuota]):
    form = UserQuotaForm
    list_display = ("user", "max_overlays", "max_size", "use")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)

    @admin.display(description="max size", ordering="max_bytes")
    def max_size(self, quota: UserQuota) -> str:
        return "-" if quota.max_bytes is None else human_bytes(quota.max_bytes)

    @admin.display(description="use against the limits in force")
    def use(self, quota: UserQuota) -> str:
        return quota_of(quota.user).summary


class UserQuotaInline(admin.StackedInline[UserQuota, User]):
    """A user's own limits, on their page in the admin."""

    model = UserQuota
    form = UserQuotaForm
    can_delete = True
    max_num = 1


class UserWithQuotaAdmin(UserAdmin[User]):
    inlines = [*UserAdmin.inlines, UserQuotaInline]


admin.site.unregister(User)
admin.site.register(User, UserWithQuotaAdmin)
