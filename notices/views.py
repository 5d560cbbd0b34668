from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from left4me.http import AuthenticatedHttpRequest
from notices.events import events_for
from notices.models import Destination
from notices.services import (
    NoticeError,
    destination_add,
    destination_delete,
    destination_for_user,
    destination_test,
)


@login_required
@require_http_methods(["GET", "POST"])
def destination_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render_list(request)
    try:
        destination = destination_add(
            user=request.user,
            name=request.POST.get("name", ""),
            url=request.POST.get("url", ""),
            events=request.POST.getlist("events"),
        )
    except NoticeError as exc:
        return _render_list(request, error=str(exc), status=400)
    messages.success(request, f"Destination '{destination.name}' added: use Test to send it a notice.")
    return redirect("notices:list")


def _render_list(request: AuthenticatedHttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "destinations": Destination.objects.filter(user=request.user),
        "events": events_for(request.user),
        "chosen": request.POST.getlist("events"),
        "name": request.POST.get("name", ""),
        "error": error,
    }
    return render(request, "notices/list.html", context, status=status)


@login_required
@require_POST
def destination_test_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    destination = destination_for_user(user=request.user, pk=pk)
    job = destination_test(destination=destination)
    messages.success(request, f"Test notice to {destination.name} queued.")
    return redirect("jobs:detail", pk=job.pk)


@login_required
@require_POST
def destination_delete_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    destination = destination_for_user(user=request.user, pk=pk)
    destination_delete(destination=destination)
    messages.success(request, f"Destination '{destination.name}' removed.")
    return redirect("notices:list")
