"""Talking to a game server: A2S info (python-a2s) and Source RCON (the `rcon` library).

Nothing here touches the database; servers.status and servers.apply store what it learns."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import a2s
from django.conf import settings
from rcon.exceptions import EmptyResponse, SessionTimeout, WrongPassword
from rcon.source import Client


@dataclass(frozen=True)
class Answer:
    """One A2S info answer; `up` False when the server did not answer (then `error` says why)."""

    up: bool
    map: str = ""
    players: int = 0  # human players: the players minus the bots
    max_players: int = 0
    latency_ms: float | None = None
    error: str = ""


class RconAuthFailed(Exception):
    """The server refused the RCON password: trying again changes nothing."""


class RconUnreachable(Exception):
    """No RCON session could be had (refused, timed out, closed): it may pass."""


def _timeout() -> float:
    return float(settings.LEFT4ME_SERVER_TIMEOUT_SECONDS)


def _answer(info: object) -> Answer:
    players = int(getattr(info, "player_count", 0))
    bots = int(getattr(info, "bot_count", 0))
    return Answer(
        up=True,
        map=str(getattr(info, "map_name", "")),
        players=max(0, players - bots),
        max_players=int(getattr(info, "max_players", 0)),
        latency_ms=round(float(getattr(info, "ping", 0.0)) * 1000, 1),
    )


def _down(exc: BaseException) -> Answer:
    return Answer(up=False, error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def a2s_info(address: str, port: int) -> Answer:
    """Ask one server (the apply job's checks)."""
    try:
        return _answer(a2s.info((address, port), timeout=_timeout()))
    except (OSError, a2s.BrokenMessageError, a2s.BufferExhaustedError, EOFError) as exc:
        return _down(exc)


async def _ainfo(address: str, port: int) -> Answer:
    try:
        return _answer(await a2s.ainfo((address, port), timeout=_timeout()))
    except (TimeoutError, OSError, a2s.BrokenMessageError, a2s.BufferExhaustedError, EOFError) as exc:
        return _down(exc)


def a2s_info_many(addresses: Iterable[tuple[str, int]]) -> list[Answer]:
    """Ask every server at once (one poll round: a host's servers answer in parallel, so the
    round lasts about one time-out at most, however many there are)."""

    async def ask_all() -> list[Answer]:
        return list(await asyncio.gather(*(_ainfo(address, port) for address, port in addresses)))

    return asyncio.run(ask_all())


class Rcon:
    """One RCON session: `with Rcon(address, port, password) as rcon: rcon.run("status")`."""

    def __init__(self, address: str, port: int, password: str) -> None:
        self._client = Client(address, port, timeout=_timeout())
        self._password = password
        self._where = f"{address}:{port}"

    def __enter__(self) -> Rcon:
        try:
            self._client.connect()
            self._client.login(self._password)
        except WrongPassword:
            self._client.close()
            raise RconAuthFailed("rcon: authentication failed") from None
        except (OSError, EmptyResponse, SessionTimeout) as exc:
            self._client.close()
            raise RconUnreachable(f"rcon: {self._where} unreachable: {_reason(exc)}") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def run(self, command: str) -> str:
        try:
            return str(self._client.run(command))
        except (OSError, EmptyResponse, SessionTimeout) as exc:
            raise RconUnreachable(f"rcon: {self._where} stopped answering: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"no answer within {_timeout():g} s"
    return str(exc) or type(exc).__name__


def wait_until_up(address: str, port: int, *, seconds: float, every: float = 0.5) -> Answer:
    """Ask until the server answers or `seconds` pass (after a map reload it is away a moment)."""
    deadline = time.monotonic() + seconds
    answer = a2s_info(address, port)
    while not answer.up and time.monotonic() < deadline:
        time.sleep(every)
        answer = a2s_info(address, port)
    return answer
