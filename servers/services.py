"""Game servers: who sees and changes them, registering them, the apply's enqueue and the status
the pages read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404

from jobs.models import Job
from jobs.services import job_enqueue
from left4me.models import Host
from overlays.models import Overlay
from servers.models import DEFAULT_PORT, AddonsChange, GameServer
from servers.operations import APPLY_TO_SERVER

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MANAGE_SERVERS = "servers.manage_servers"
FORM_FIELDS = ("name", "overlay", "address", "port", "rcon_port", "rcon_password", "apply_policy")


class ServerError(Exception):
    """Input left4me refuses; the message says why."""


# --- who may do what --------------------------------------------------------------------


def servers_visible_to(user: User) -> QuerySet[GameServer]:
    """Holders of servers.manage_servers see every server; an overlay's owner its servers."""
    servers = GameServer.objects.select_related("overlay", "overlay__owner", "host")
    if user.has_perm(MANAGE_SERVERS):
        return servers
    return servers.filter(overlay__owner=user)


def server_for_user(user: User, pk: int, *, manage: bool = False) -> GameServer:
    """The server, if `user` may see it (manage: change it too); 404 when it does not exist,
    403 when it is not theirs to see or change."""
    server = GameServer.objects.select_related("overlay", "overlay__owner", "host").filter(pk=pk).first()
    if server is None:
        raise Http404("no such server")
    if user.has_perm(MANAGE_SERVERS):
        return server
    if manage or server.overlay.owner_id != user.pk:
        raise PermissionDenied("not a server you may change" if manage else "not your server")
    return server


def overlays_for_servers() -> QuerySet[Overlay]:
    return Overlay.objects.filter(deleting=False).select_related("owner", "host")


# --- register, change, delete -----------------------------------------------------------


@transaction.atomic
def server_save(*, data: Mapping[str, Any], server: GameServer | None = None) -> GameServer:
    """Create (server None) or change a server from form fields; ServerError (nothing saved)
    with every reason when the input is refused. An empty rcon_password keeps the stored one
    on a change; an empty rcon_port is the game port; the host is the overlay's."""
    server = server or GameServer()
    new = server.pk is None
    server.name = str(data.get("name", "")).strip()
    server.overlay = _overlay(data.get("overlay", ""))
    server.host = _host(data.get("host"), server.overlay) if server.overlay else Host()
    server.address = str(data.get("address", "")).strip()
    server.port = _port(data.get("port"), "port", DEFAULT_PORT)
    server.rcon_port = _port(data.get("rcon_port"), "rcon_port", server.port)
    password = str(data.get("rcon_password", ""))
    if password or new:
        server.rcon_password = password
    server.apply_policy = str(data.get("apply_policy") or GameServer.Policy.WHEN_EMPTY)
    if "apply_commands" in data:
        server.apply_commands = str(data["apply_commands"]).strip() or server.apply_commands
    _validate(server)
    server.save()
    return server


def _overlay(value: object) -> Overlay:
    overlay = overlays_for_servers().filter(pk=_int(value, "overlay")).first()
    if overlay is None:
        raise ServerError("overlay: no such overlay")
    return overlay


def _host(value: object, overlay: Overlay) -> Host:
    if not value:
        return overlay.host
    host = Host.objects.filter(name=str(value)).first()
    if host is None:
        raise ServerError(f"host: no host named {value!r}")
    return host


def _int(value: object, field: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ServerError(f"{field}: a whole number is needed, not {str(value)[:40]!r}") from None


def _port(value: object, field: str, default: int) -> int:
    if value is None or str(value).strip() == "":
        return default
    port = _int(value, field)
    if not 1 <= port <= 65535:
        raise ServerError(f"{field}: {port} is not a port (1 to 65535)")
    return port


def _validate(server: GameServer) -> None:
    if any(char.isspace() for char in server.address):
        raise ServerError("address: a host name or IP address has no spaces")
    try:
        server.full_clean(exclude=["applied_build"])
    except ValidationError as exc:
        reasons = [f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()]
        raise ServerError(
            "; ".join(reasons).replace("Game server with this Name", "a server with this name")
        ) from None


def server_delete(*, server: GameServer) -> None:
    server.delete()


# --- apply ------------------------------------------------------------------------------


@transaction.atomic
def server_apply_enqueue(
    *, server: GameServer, reason: str, user: User | None = None, now: bool = False
) -> Job:
    """Queue the apply of the overlay's addons/ to `server` (or join the one that still waits).
    `now`: asked by hand, it applies at once whatever the policy, even into a waiting job."""
    if now:
        GameServer.objects.filter(pk=server.pk).update(apply_now=True)
    job, _new = job_enqueue(
        operation=APPLY_TO_SERVER, subject=server, owner=server.overlay.owner, user=user, reason=reason
    )
    return job


def server_apply_now(*, server: GameServer, user: User) -> Job:
    """*Apply now* (the server's page and the API): at once, whatever the policy."""
    return server_apply_enqueue(server=server, user=user, reason="asked by hand", now=True)


def addons_changed(*, overlay: Overlay, build: int, items: int) -> list[Job]:
    """A build changed `overlay`'s addons/: record it, and queue an apply for each of its
    servers whose policy is not manual."""
    AddonsChange.objects.update_or_create(overlay=overlay, build=build, defaults={"items": items})
    noun = "item" if items == 1 else "items"
    servers = GameServer.objects.filter(overlay=overlay).exclude(apply_policy=GameServer.Policy.MANUAL)
    return [
        server_apply_enqueue(server=server, reason=f"build {build} changed {items} {noun}")
        for server in servers.select_related("overlay__owner", "host")
    ]


def latest_build(overlay_id: int) -> int | None:
    """The newest build that changed the overlay's addons/."""
    builds = AddonsChange.objects.filter(overlay_id=overlay_id).order_by("-build")
    return builds.values_list("build", flat=True).first()


def apply_job(server: GameServer) -> Job | None:
    """Its newest apply job."""
    return Job.objects.of(server).filter(operation=APPLY_TO_SERVER.name).order_by("-id").first()


def server_status(server: GameServer) -> dict[str, object]:
    """GET /servers/<id>/status/: the stored answer of the last poll and the apply's state."""
    job = apply_job(server)
    return {
        "state": server.state,
        "map": server.map,
        "players": server.players,
        "max_players": server.max_players,
        "latency_ms": server.latency_ms,
        "last_seen": server.last_seen_at.isoformat() if server.last_seen_at else None,
        "applied_build": server.applied_build,
        "pending_changes": server.pending_changes,
        "line": server.status_line,
        "apply_job": _job_json(job) if job else None,
    }


def _job_json(job: Job) -> dict[str, object]:
    return {
        "id": job.pk,
        "state": job.state,
        "title": job.title,
        "waiting": job.retry_text,
        "error": job.error,
    }
