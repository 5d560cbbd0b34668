"""The API's routes beyond overlays and jobs: game servers (list, status, apply), the caller's
notice destinations, and for operators the hosts and cache collection. Like api.endpoints, each
calls the services its page calls, with the same access rule."""

from __future__ import annotations

from django.urls import reverse
from ninja import Router, Status

from api.auth import ApiRequest
from api.endpoints import REFUSED, STARTED, started
from api.schemas import (
    CollectIn,
    CollectStarted,
    DestinationIn,
    DestinationOut,
    HostOut,
    ServerOut,
    ServerStatusOut,
)
from fleet.services import (
    cache_collect_enqueue,
    host_named_or_default,
    hosts_with_overlay_counts,
    storage_viewer_only,
)
from notices.models import Destination
from notices.services import destination_add, destination_delete, destination_for_user, destination_test
from servers.models import GameServer
from servers.services import server_apply_now, server_for_user, server_status, servers_visible_to

servers = Router(tags=["game servers"])
notifications = Router(tags=["notices"])
operators = Router(tags=["operators"])


# --- game servers -----------------------------------------------------------------------------


def _server_row(server: GameServer) -> dict[str, object]:
    return {
        "id": server.pk,
        "name": server.name,
        "overlay": server.overlay_id,
        "overlay_name": server.overlay.name,
        "host": server.host.name,
        "address": server.address,
        "port": server.port,
        "apply_policy": server.apply_policy,
        "state": server.state,
        "map": server.map,
        "players": server.players,
        "max_players": server.max_players,
        "url": reverse("servers:detail", args=[server.pk]),
    }


@servers.get("", response=list[ServerOut])
def server_list(request: ApiRequest) -> list[dict[str, object]]:
    """The servers the user sees on /servers/: every one for operators, else their overlays'."""
    return [_server_row(server) for server in servers_visible_to(request.user)]


@servers.get("/{int:server_id}", response={200: ServerStatusOut, **REFUSED})
def server_read(request: ApiRequest, server_id: int) -> dict[str, object]:
    """The server with its page's live status: the last poll's answer and the newest apply."""
    server = server_for_user(request.user, server_id)
    return _server_row(server) | server_status(server)


@servers.post("/{int:server_id}/apply", response=STARTED)
def server_apply(request: ApiRequest, server_id: int) -> Status[dict[str, object]]:
    """Apply now, whatever the server's policy, as the page's button does."""
    server = server_for_user(request.user, server_id)
    return started(server_apply_now(server=server, user=request.user))


# --- notice destinations ------------------------------------------------------------------------


def _destination(destination: Destination) -> dict[str, object]:
    return {
        "id": destination.pk,
        "name": destination.name,
        "shown_url": destination.shown_url,
        "events": destination.events,
        "disabled": destination.disabled,
        "failures": destination.failures,
        "last_error": destination.last_error,
        "last_sent_at": destination.last_sent_at,
    }


@notifications.get("", response=list[DestinationOut])
def destination_list(request: ApiRequest) -> list[dict[str, object]]:
    """The caller's own destinations (an operator's list holds only theirs too)."""
    return [_destination(d) for d in Destination.objects.filter(user=request.user)]


@notifications.post("", response={201: DestinationOut, **REFUSED})
def destination_new(request: ApiRequest, body: DestinationIn) -> Status[dict[str, object]]:
    """Add a destination: an apprise URL, checked as the page checks it (private addresses
    refused); `events` empty: every event the user may take."""
    destination = destination_add(user=request.user, name=body.name, url=body.url, events=body.events)
    return Status(201, _destination(destination))


@notifications.post("/{int:destination_id}/test", response=STARTED)
def destination_try(request: ApiRequest, destination_id: int) -> Status[dict[str, object]]:
    """Send a test notice now (a destination disabled by failures is enabled again)."""
    return started(destination_test(destination=destination_for_user(user=request.user, pk=destination_id)))


@notifications.delete("/{int:destination_id}", response={204: None, **REFUSED})
def destination_remove(request: ApiRequest, destination_id: int) -> Status[None]:
    destination_delete(destination=destination_for_user(user=request.user, pk=destination_id))
    return Status(204, None)


# --- operators: hosts and the cache -------------------------------------------------------------


@operators.get("/hosts", response={200: list[HostOut], **REFUSED})
def host_list(request: ApiRequest) -> list[dict[str, object]]:
    """Every host with its status and its worker's last report, as the Storage page lists them."""
    storage_viewer_only(request.user)
    return [
        {
            "name": host.name,
            "status": host.status,
            "overlays": host.overlay_count,
            "cache_bytes": host.cache_bytes,
            "free_bytes": host.free_bytes,
            "total_bytes": host.total_bytes,
            "last_seen_at": host.last_seen_at,
        }
        for host in hosts_with_overlay_counts()
    ]


@operators.post("/storage/collect", response={202: CollectStarted, **REFUSED})
def storage_collect(request: ApiRequest, body: CollectIn | None = None) -> Status[dict[str, object]]:
    """*Collect now* of the Storage page: the collection job of `host` (default: the default
    host), or the one already queued or running there (`created` false)."""
    storage_viewer_only(request.user)
    host = host_named_or_default(body.host if body else "")
    job, created = cache_collect_enqueue(user=request.user, host=host)
    return started(job, created=created)
