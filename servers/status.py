"""The status poll: every server of a host asked for A2S info at once, the answers stored in one
write (pages read only these)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from servers.models import GameServer
from servers.query import Answer, a2s_info_many

STATUS_FIELDS = ["state", "map", "players", "max_players", "latency_ms", "last_seen_at", "polled_at"]


def status_apply(server: GameServer, answer: Answer) -> None:
    """Set what `answer` says on `server` (not saved); down keeps the last map and counts."""
    now = timezone.now()
    server.polled_at = now
    if not answer.up:
        server.state = GameServer.State.DOWN
        return
    server.state = GameServer.State.UP
    server.map, server.players, server.max_players = answer.map, answer.players, answer.max_players
    server.latency_ms, server.last_seen_at = answer.latency_ms, now


def status_store(server: GameServer, answer: Answer) -> None:
    """Set and store what `answer` says: one UPDATE, which a server deleted meanwhile skips."""
    status_apply(server, answer)
    GameServer.objects.filter(pk=server.pk).update(**{name: getattr(server, name) for name in STATUS_FIELDS})


def servers_poll(*, servers: Sequence[GameServer]) -> int:
    """Ask every server in `servers` at once and store the answers, one UPDATE per server in
    one transaction (Django's bulk_update builds a CASE per field and row, which SQLite takes
    seconds over for 500 servers); returns how many answered."""
    answers = a2s_info_many((server.address, server.port) for server in servers)
    with transaction.atomic():
        for server, answer in zip(servers, answers, strict=True):
            status_store(server, answer)
    return sum(answer.up for answer in answers)
