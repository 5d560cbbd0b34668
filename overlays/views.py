from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from overlays.models import Overlay


@login_required
def overlay_list(request: HttpRequest) -> HttpResponse:
    overlays = Overlay.objects.all() if request.user.is_staff else Overlay.objects.filter(owner=request.user)
    return render(request, "overlays/list.html", {"overlays": overlays})
