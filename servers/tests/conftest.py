from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from overlays.models import Overlay
from servers.models import GameServer
from tests.support.gameserver import StandInGameServer


@pytest.fixture(autouse=True)
def _private_roots(private_roots: None) -> None:
    """Every test here gets its own cache and overlays folders."""


@pytest.fixture
def game() -> Iterator[StandInGameServer]:
    """A stand-in game server (A2S and RCON on one port of 127.0.0.1, password "secret")."""
    with StandInGameServer(password="secret") as server:
        yield server


@pytest.fixture
def server(overlay: Overlay, game: StandInGameServer, settings: Any) -> GameServer:
    """The stand-in registered on the owner's overlay (policy when_empty)."""
    settings.LEFT4ME_SERVER_TIMEOUT_SECONDS = 0.5
    return GameServer.objects.create(
        name="Versus #1",
        overlay=overlay,
        host=overlay.host,
        address="127.0.0.1",
        port=game.port,
        rcon_port=game.port,
        rcon_password="secret",
    )
