"""The Storage page: every host's disk and cache, this machine's cache in detail, *Collect now*."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from fleet.services import (
    cache_collect_enqueue,
    host_named_or_default,
    hosts_with_overlay_counts,
    storage_viewer_only,
)
from fleet.storage import storage_report
from left4me.http import AuthenticatedHttpRequest
from left4me.units import human_duration
from overlays.services import OverlayError

# The Storage page lists this many collectable items, the soonest first.
COLLECTABLE_SHOWN = 50


@login_required
@require_GET
def storage(request: AuthenticatedHttpRequest) -> HttpResponse:
    storage_viewer_only(request.user)
    return _render_storage(request)


def _render_storage(request: AuthenticatedHttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    hosts = list(hosts_with_overlay_counts())
    here = next((host for host in hosts if host.is_here), None)
    # This machine's cache in detail, when it is a host (a web host of a fleet has none).
    report = storage_report() if (here and here.overlay_count) or len(hosts) <= 1 else None
    context = {
        "hosts": hosts,
        "here": here,
        "report": report,
        "collectable": report.collectable[:COLLECTABLE_SHOWN] if report else [],
        "collectable_more": max(0, len(report.collectable) - COLLECTABLE_SHOWN) if report else 0,
        "error": error,
        "down_after": human_duration(settings.LEFT4ME_HOST_DOWN_AFTER_SECONDS),
        "grace": human_duration(settings.WORKSHOP_CACHE_GRACE),
    }
    return render(request, "fleet/storage.html", context, status=status)


@login_required
@require_POST
def storage_collect(request: AuthenticatedHttpRequest) -> HttpResponse:
    """*Collect now*: the collection job (the one already queued or running, if any)."""
    storage_viewer_only(request.user)
    try:
        host = host_named_or_default(request.POST.get("host", ""))
    except OverlayError as exc:
        return _render_storage(request, error=str(exc), status=400)
    job, created = cache_collect_enqueue(user=request.user, host=host)
    if created:
        messages.success(request, f"Collection of unused workshop files on {host.name} queued.")
    else:
        messages.info(request, "A collection was already queued or running: this is it.")
    return redirect("jobs:detail", pk=job.pk)
