from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from jobs.models import Job
from left4me.http import AuthenticatedHttpRequest
from overlays.models import Overlay
from overlays.services import (
    FILE_OPERATIONS,
    OverlayError,
    item_remove,
    items_add,
    latest_file_job,
    overlay_create,
    overlay_delete,
    overlay_refresh_enqueue,
)
from workshop.models import WorkshopItem
from workshop.parsing import WorkshopInputError


def _overlay_for_user(request: AuthenticatedHttpRequest, pk: int) -> Overlay:
    """The overlay, if the user may act on it: its owner or staff; 403 for anyone else."""
    overlay = get_object_or_404(Overlay.objects.select_related("owner"), pk=pk)
    if overlay.owner_id != request.user.pk and not request.user.is_staff:
        raise PermissionDenied("not your overlay")
    return overlay


def _job_redirect(job: Job) -> HttpResponse:
    return redirect("jobs:detail", pk=job.pk)


def _visible_overlays(request: AuthenticatedHttpRequest) -> QuerySet[Overlay]:
    overlays = Overlay.objects.select_related("owner")
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
    context = {"overlays": _visible_overlays(request), "error": error, "name": request.POST.get("name", "")}
    return render(request, "overlays/list.html", context, status=status)


@login_required
def overlay_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, _overlay_for_user(request, pk))


def _render_detail(
    request: AuthenticatedHttpRequest, overlay: Overlay, *, error: str = "", status: int = 200
) -> HttpResponse:
    items = list(WorkshopItem.objects.filter(overlay_links__overlay=overlay).order_by("title", "steam_id"))
    latest = latest_file_job(overlay)
    context = {
        "overlay": overlay,
        "rows": [(item, item.cache_state()) for item in items],
        "total_size": sum(item.file_size for item in items),
        "collections": list(overlay.workshop_collections.all()),
        "latest_build": latest,
        "can_edit": not (latest and latest.is_active),
        "error": error,
        "input": request.POST.get("input", ""),
        "input_mode": request.POST.get("input_mode", "items"),
    }
    return render(request, "overlays/detail.html", context, status=status)


@login_required
@require_POST
def overlay_items_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    try:
        job = items_add(
            overlay=overlay,
            text=request.POST.get("input", ""),
            input_mode=request.POST.get("input_mode", "items"),
            user=request.user,
        )
    except WorkshopInputError as exc:
        return _render_detail(request, overlay, error=str(exc), status=400)
    return _job_redirect(job)


@login_required
@require_POST
def overlay_item_delete(request: AuthenticatedHttpRequest, pk: int, steam_id: str) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    try:
        job = item_remove(overlay=overlay, steam_id=steam_id, user=request.user)
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
    overlay_delete(overlay=_overlay_for_user(request, pk))
    return redirect("overlays:list")
