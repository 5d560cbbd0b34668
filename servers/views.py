"""Game server pages: the list, register, change, delete, apply now, and the status JSON."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from left4me.http import AuthenticatedHttpRequest
from servers.models import DEFAULT_PORT, GameServer
from servers.services import (
    FORM_FIELDS,
    MANAGE_SERVERS,
    ServerError,
    apply_job,
    overlays_for_servers,
    server_apply_now,
    server_delete,
    server_for_user,
    server_save,
    server_status,
    servers_visible_to,
)


@login_required
@require_GET
def server_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    servers = list(servers_visible_to(request.user))
    return render(request, "servers/list.html", {"servers": servers})


def _form_context(
    request: AuthenticatedHttpRequest, server: GameServer | None, error: str
) -> dict[str, object]:
    values = {name: request.POST.get(name, "") for name in FORM_FIELDS if name != "rcon_password"}
    if server is not None and request.method != "POST":
        values = {name: str(getattr(server, name)) for name in FORM_FIELDS if name != "rcon_password"}
        values["overlay"] = str(server.overlay_id)
    return {
        "server": server,
        "values": values,
        "overlays": overlays_for_servers(),
        "policies": GameServer.Policy.choices,
        "default_port": DEFAULT_PORT,
        "error": error,
        "can_manage": request.user.has_perm(MANAGE_SERVERS),
        "apply_job": apply_job(server) if server is not None else None,
    }


@login_required
@require_http_methods(["GET", "POST"])
def server_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not request.user.has_perm(MANAGE_SERVERS):
        raise PermissionDenied("registering game servers needs servers.manage_servers")
    if request.method == "POST":
        try:
            server = server_save(data=request.POST)
        except ServerError as exc:
            return render(request, "servers/form.html", _form_context(request, None, str(exc)), status=400)
        messages.success(request, f"Server '{server.name}' registered.")
        return redirect("servers:detail", pk=server.pk)
    return render(request, "servers/form.html", _form_context(request, None, ""))


@login_required
@require_http_methods(["GET", "POST"])
def server_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The server's page; operators change it here (the owner of its overlay only reads it)."""
    server = server_for_user(request.user, pk, manage=request.method == "POST")
    if request.method == "POST":
        try:
            server = server_save(data=request.POST, server=server)
        except ServerError as exc:
            server.refresh_from_db()
            return render(request, "servers/form.html", _form_context(request, server, str(exc)), status=400)
        messages.success(request, f"Server '{server.name}' saved.")
        return redirect("servers:detail", pk=server.pk)
    return render(request, "servers/form.html", _form_context(request, server, ""))


@login_required
@require_POST
def server_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    server = server_for_user(request.user, pk, manage=True)
    server_delete(server=server)
    messages.success(request, f"Server '{server.name}' deleted.")
    return redirect("servers:list")


@login_required
@require_POST
def server_apply(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Apply now, whatever the policy; 302 to the job."""
    server = server_for_user(request.user, pk)
    job = server_apply_now(server=server, user=request.user)
    return redirect("jobs:detail", pk=job.pk)


@login_required
@require_GET
def server_status_json(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return JsonResponse(server_status(server_for_user(request.user, pk)))
