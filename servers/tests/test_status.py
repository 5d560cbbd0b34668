"""The status poll: answers stored, one write per round, pages never asking a server."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from servers.models import GameServer
from servers.status import servers_poll
from servers.tasks import POLL_HOST_TASK, poll_servers
from tests.support.gameserver import StandInGameServer

pytestmark = pytest.mark.django_db


def test_the_poll_stores_up_map_humans_max_latency_and_last_seen(server, game):
    game.players, game.bots, game.max_players, game.map = 3, 2, 8, "c5m1_waterfront"
    assert servers_poll(servers=[server]) == 1
    server.refresh_from_db()
    assert (server.state, server.map, server.players, server.max_players) == ("up", "c5m1_waterfront", 3, 8)
    assert server.latency_ms is not None and server.last_seen_at is not None
    assert server.status_text == "up · c5m1_waterfront · 3/8 players"


def test_a_silent_server_is_down_and_keeps_its_last_answer(server, game):
    servers_poll(servers=[server])
    game.down()
    servers_poll(servers=[server])
    server.refresh_from_db()
    assert (server.state, server.map) == ("down", "c2m1_highway")
    assert server.status_text.startswith("down · last seen ")


def test_one_round_asks_each_server_once_and_writes_each_once(overlay, settings):
    settings.LEFT4ME_SERVER_TIMEOUT_SECONDS = 0.5
    stand_ins = [StandInGameServer(players=i % 3).start() for i in range(5)]
    try:
        servers = [
            GameServer.objects.create(
                name=f"s{i}",
                overlay=overlay,
                host=overlay.host,
                address="127.0.0.1",
                port=s.port,
                rcon_port=s.port,
            )
            for i, s in enumerate(stand_ins)
        ]
        with CaptureQueriesContext(connection) as queries:
            assert servers_poll(servers=servers) == 5
        assert len([q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]) == 5
        assert [s.queries for s in stand_ins] == [1] * 5
    finally:
        for s in stand_ins:
            s.stop()
    assert sorted(GameServer.objects.values_list("players", flat=True)) == [0, 0, 1, 1, 2]


def test_the_beat_sends_one_poll_per_host_to_its_queue(server, sent):
    assert poll_servers() == 1
    assert [(c["name"], c["args"], c["queue"]) for c in sent.calls] == [
        (POLL_HOST_TASK, [server.host.pk], server.host.job_queue)
    ]


def test_the_pages_read_the_stored_answer_only(server, game, client, operator):
    client.force_login(operator)
    game.players = 5
    assert "unknown · not polled yet" in client.get("/servers/").content.decode()
    body = client.get(f"/servers/{server.pk}/status/").json()
    assert (body["state"], body["players"]) == ("unknown", 0)
    assert game.queries == 0
