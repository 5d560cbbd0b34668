"""The overlay page's routes for what its items hold: the map list download and "same family"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from left4me.http import AuthenticatedHttpRequest
from left4me.units import counted
from overlays.contents import ALL_MAPS, FamilyError, overlay_family_mark, stored_panel
from overlays.views import _overlay_for_user, _render_detail, overlay_form, titles_of
from workshop.vpk import GAME_MODES


@login_required
@require_GET
def overlay_maps_txt(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The maps of one game mode, one a line (for a mapcycle or a vote menu); ``all``: every map
    the overlay provides."""
    overlay = _overlay_for_user(request, pk)
    mode = request.GET.get("mode", "coop")
    if mode not in (*GAME_MODES, ALL_MAPS):
        return HttpResponse(
            f"unknown mode {mode[:40]!r}: use one of {', '.join((*GAME_MODES, ALL_MAPS))}\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    maps = stored_panel(overlay).maps(mode)
    response = HttpResponse("".join(f"{name}\n" for name in maps), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{overlay.pk}-{mode}-maps.txt"'
    return response


@overlay_form
def overlay_families(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Mark the posted items as one family, or (action=split) take them out of theirs."""
    overlay = _overlay_for_user(request, pk)
    same = request.POST.get("action", "same") != "split"
    try:
        found = overlay_family_mark(overlay=overlay, steam_ids=request.POST.getlist("steam_id"), same=same)
    except FamilyError as exc:
        return _render_detail(request, overlay, error=str(exc), status=400)
    titled = " + ".join(titles_of(list(dict.fromkeys(request.POST.getlist("steam_id")))))
    done = f"Marked {titled} as one family" if same else f"{titled}: no longer one family"
    messages.success(request, f"{done}; {counted(found, 'conflict')} left.")
    return redirect(f"{overlay.get_absolute_url()}#conflicts")
