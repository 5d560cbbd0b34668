from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.models import Job
from left4me.http import AuthenticatedHttpRequest
from overlays.items import (
    collection_unfollow,
    item_include,
    item_pin,
    item_remove,
    item_rollback,
    item_unpin,
    items_add,
)
from overlays.models import (
    Overlay,
    OverlayCollectionItem,
    OverlayWorkshopCollection,
)
from overlays.quotas import quota_of
from overlays.services import (
    FILE_OPERATIONS,
    OverlayError,
    cache_collect_enqueue,
    latest_file_job,
    overlay_create,
    overlay_delete_enqueue,
    overlay_refresh_enqueue,
)
from overlays.storage import storage_report
from workshop.cache import CacheState
from workshop.models import WorkshopItem
from workshop.parsing import WorkshopInputError

# At most this many "left out" lines are shown after an add; the build's log has them all.
LEFT_OUT_SHOWN = 10
# The Storage page lists this many collectable items, the soonest first.
COLLECTABLE_SHOWN = 50


def _overlay_for_user(request: AuthenticatedHttpRequest, pk: int) -> Overlay:
    """The overlay, if the user may act on it: its owner or staff; 403 for anyone else."""
    overlay = get_object_or_404(Overlay.objects.select_related("owner"), pk=pk, deleting=False)
    if overlay.owner_id != request.user.pk and not request.user.is_staff:
        raise PermissionDenied("not your overlay")
    return overlay


def _job_redirect(job: Job) -> HttpResponse:
    return redirect("jobs:detail", pk=job.pk)


def _visible_overlays(request: AuthenticatedHttpRequest) -> QuerySet[Overlay]:
    overlays = Overlay.objects.select_related("owner").filter(deleting=False)
    if not request.user.is_staff:
        overlays = overlays.filter(owner=request.user)
    latest = Job.objects.filter(
        subject_type=ContentType.objects.get_for_model(Overlay),
        subject_id=OuterRef("pk"),
        operation__in=FILE_OPERATIONS,
    ).order_by("-id")
    return overlays.annotate(
        item_count=Count("workshop_links"),
        total_size=Sum("workshop_links__item__file_size"),
        build_state=Subquery(latest.values("state")[:1]),
    )


@login_required
@require_http_methods(["GET", "POST"])
def overlay_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            overlay = overlay_create(owner=request.user, name=request.POST.get("name", ""))
        except OverlayError as exc:
            return _render_list(request, error=str(exc), status=400)
        return redirect("overlays:detail", pk=overlay.pk)
    return _render_list(request)


def _render_list(request: AuthenticatedHttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "overlays": _visible_overlays(request),
        "quota": quota_of(request.user),
        "error": error,
        "name": request.POST.get("name", ""),
    }
    return render(request, "overlays/list.html", context, status=status)


@login_required
def overlay_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, _overlay_for_user(request, pk))


def _render_detail(
    request: AuthenticatedHttpRequest, overlay: Overlay, *, error: str = "", status: int = 200
) -> HttpResponse:
    items = list(
        WorkshopItem.objects.filter(overlay_links__overlay=overlay)
        .annotate(
            direct=F("overlay_links__direct"),
            conflict=F("overlay_links__conflict"),
            pinned_version=F("overlay_links__pinned_version"),
        )
        .order_by("title", "steam_id")
    )
    collections = list(overlay.workshop_collections.annotate(item_count=Count("members")))
    latest = latest_file_job(overlay)
    context = {
        "overlay": overlay,
        "rows": _item_rows(items, collections),
        "total_size": sum(item.file_size for item in items),
        "collections": _collection_rows(overlay, collections),
        "latest_build": latest,
        "can_edit": not (latest and latest.is_active),
        "error": error,
        "input": request.POST.get("input", ""),
        "input_mode": request.POST.get("input_mode", "auto"),
        # Each row's buttons post its item through one form to these (one reversal per page).
        "pin_url": reverse("overlays:items_pin", args=[overlay.pk]),
        "unpin_url": reverse("overlays:items_unpin", args=[overlay.pk]),
        "rollback_url": reverse("overlays:items_rollback", args=[overlay.pk]),
    }
    return render(request, "overlays/detail.html", context, status=status)


def _holders(collections: Sequence[OverlayWorkshopCollection]) -> dict[int, list[OverlayWorkshopCollection]]:
    """item id -> the followed collections holding it."""
    by_pk = {collection.pk: collection for collection in collections}
    holders: dict[int, list[OverlayWorkshopCollection]] = defaultdict(list)
    members = OverlayCollectionItem.objects.filter(collection__in=collections).values_list(
        "item_id", "collection_id"
    )
    for item_id, collection_id in members:
        holders[item_id].append(by_pk[collection_id])
    return holders


def _item_rows(
    items: Sequence[WorkshopItem], collections: Sequence[OverlayWorkshopCollection]
) -> list[tuple[WorkshopItem, CacheState, str]]:
    """(item, cache state, where it came from: "direct" and/or collection titles) per item; each
    item carries its link's `direct` flag as an annotation."""
    holders = _holders(collections)
    rows = []
    for item in items:
        sources = (["direct"] if getattr(item, "direct", True) else []) + [
            c.label for c in holders.get(item.pk, [])
        ]
        rows.append((item, item.cache_state(), ", ".join(sources) or "a collection it has left"))
    return rows


def _collection_rows(
    overlay: Overlay, collections: Sequence[OverlayWorkshopCollection]
) -> list[tuple[OverlayWorkshopCollection, list[WorkshopItem]]]:
    """Each followed collection with the items the owner excluded from it."""
    excluded = {e.item_id: e.item for e in overlay.workshop_exclusions.select_related("item")}
    holders = _holders(collections) if excluded else {}
    return [
        (collection, [item for pk, item in excluded.items() if collection in holders.get(pk, [])])
        for collection in collections
    ]


@login_required
@require_http_methods(["GET", "POST"])
def overlay_items_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    if request.method == "GET":  # the address a refused add leaves in the browser
        return redirect(overlay)
    try:
        result = items_add(
            overlay=overlay,
            text=request.POST.get("input", ""),
            input_mode=request.POST.get("input_mode", "auto"),
            user=request.user,
        )
    except WorkshopInputError as exc:
        return _render_detail(request, overlay, error=str(exc), status=400)
    _report_left_out(request, result.messages)
    return _job_redirect(result.job)


def _report_left_out(request: AuthenticatedHttpRequest, lines: list[str]) -> None:
    shown = lines[:LEFT_OUT_SHOWN]
    if len(lines) > LEFT_OUT_SHOWN:
        shown.append(f"… and {len(lines) - LEFT_OUT_SHOWN} more (all of them are in the build's log)")
    for line in shown:
        messages.warning(request, line)


class ItemAction(Protocol):
    def __call__(self, *, overlay: Overlay, steam_id: str, user: User | None) -> Job: ...


def _item_action(
    request: AuthenticatedHttpRequest, pk: int, steam_id: str, action: ItemAction
) -> HttpResponse:
    """Run `action` on one item of the user's overlay and show its build; 404 when it does not apply."""
    overlay = _overlay_for_user(request, pk)
    try:
        job = action(overlay=overlay, steam_id=steam_id, user=request.user)
    except OverlayError as exc:
        raise Http404(str(exc)) from exc
    return _job_redirect(job)


@login_required
@require_POST
def overlay_item_delete(request: AuthenticatedHttpRequest, pk: int, steam_id: str) -> HttpResponse:
    return _item_action(request, pk, steam_id, item_remove)


@login_required
@require_POST
def overlay_items_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The Remove buttons of the overlay page: one form, the item in `steam_id`."""
    return _item_action(request, pk, request.POST.get("steam_id", ""), item_remove)


@login_required
@require_POST
def overlay_item_include(request: AuthenticatedHttpRequest, pk: int, steam_id: str) -> HttpResponse:
    try:
        return _item_action(request, pk, steam_id, item_include)
    except WorkshopInputError as exc:  # past the owner's quota
        return _render_detail(request, _overlay_for_user(request, pk), error=str(exc), status=400)


@login_required
@require_POST
def overlay_items_pin(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _item_action(request, pk, request.POST.get("steam_id", ""), item_pin)


@login_required
@require_POST
def overlay_items_unpin(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _item_action(request, pk, request.POST.get("steam_id", ""), item_unpin)


@login_required
@require_POST
def overlay_items_rollback(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _item_action(request, pk, request.POST.get("steam_id", ""), item_rollback)


@login_required
@require_POST
def overlay_collection_unfollow(request: AuthenticatedHttpRequest, pk: int, steam_id: str) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    choice = request.POST.get("items", "")
    if choice not in ("keep", "remove"):
        return _render_detail(
            request, overlay, error="choose whether to keep or remove the collection's items", status=400
        )
    try:
        job = collection_unfollow(
            overlay=overlay, steam_id=steam_id, keep_items=choice == "keep", user=request.user
        )
    except OverlayError as exc:
        raise Http404(str(exc)) from exc
    return _job_redirect(job)


@login_required
@require_POST
def overlay_refresh(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    try:
        job, _created = overlay_refresh_enqueue(overlay=overlay, user=request.user)
    except OverlayError as exc:
        return _render_detail(request, overlay, error=str(exc), status=400)
    return _job_redirect(job)


@login_required
@require_POST
def overlay_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    overlay_delete_enqueue(overlay=overlay, user=request.user)
    messages.success(request, f"Overlay '{overlay.name}' deleted; its folder is removed in the background.")
    return redirect("overlays:list")


# --- the workshop cache (staff) ---------------------------------------------------------


def _staff_only(request: AuthenticatedHttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("staff only")


@login_required
@require_GET
def storage(request: AuthenticatedHttpRequest) -> HttpResponse:
    _staff_only(request)
    report = storage_report()
    context = {
        "report": report,
        "collectable": report.collectable[:COLLECTABLE_SHOWN],
        "collectable_more": max(0, len(report.collectable) - COLLECTABLE_SHOWN),
    }
    return render(request, "overlays/storage.html", context)


@login_required
@require_POST
def storage_collect(request: AuthenticatedHttpRequest) -> HttpResponse:
    """*Collect now*: the collection job (the one already queued or running, if any)."""
    _staff_only(request)
    job, created = cache_collect_enqueue(user=request.user)
    if not created:
        messages.info(request, "A collection was already queued or running: this is it.")
    return _job_redirect(job)
