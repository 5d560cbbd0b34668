"""The build -> apply chain with a real worker, the private Redis, the stand-in Steam and stand-in
game servers: each policy, waiting for players to leave, a wrong password, a server down then up,
coalescing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from jobs.models import Job
from jobs.services import job_reap_stale
from overlays.models import Overlay
from servers.models import GameServer
from servers.operations import APPLY_TO_SERVER
from tests.support.fakesteam import FakeSteam
from tests.support.gameserver import StandInGameServer
from tests.support.workers import running_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {
    "LEFT4ME_APPLY_CHECK_SECONDS": "1",
    "JOB_RETRY_FIRST_MINUTES": "0.01",
    "LEFT4ME_SERVER_TIMEOUT_SECONDS": "0.5",
}


@pytest.fixture
def world(client: Any, owner: Any, overlay: Overlay, settings: Any) -> Iterator[dict[str, Any]]:
    with FakeSteam() as steam, running_worker(concurrency=2, **WORKER_ENV):
        settings.STEAM_API_BASE_URL = steam.base_url
        for steam_id in ("8880001", "8880002", "8880003"):
            steam.add_item(steam_id, size=50_000)
        client.force_login(owner)
        yield {"steam": steam, "client": client, "overlay": overlay}


def _register(
    overlay: Overlay, game: StandInGameServer, name: str, policy: str, password: str = "secret"
) -> GameServer:
    return GameServer.objects.create(
        name=name,
        overlay=overlay,
        host=overlay.host,
        address="127.0.0.1",
        port=game.port,
        rcon_port=game.port,
        rcon_password=password,
        apply_policy=policy,
    )


def _build(world: dict[str, Any], steam_id: str) -> int:
    response = world["client"].post(
        f"/overlays/{world['overlay'].pk}/items/", {"input": steam_id, "input_mode": "items"}
    )
    assert response.status_code == 302
    job_id = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    job = wait_for(lambda: Job.objects.filter(pk=job_id, state__in=Job.FINAL_STATES).first(), timeout=60)
    assert job.state == "succeeded", job.error  # type: ignore[attr-defined]
    return job_id


def _apply_job(server: GameServer) -> Job | None:
    return Job.objects.of(server).filter(operation=APPLY_TO_SERVER.name).order_by("-id").first()


def _ended(server: GameServer, *, reap: bool = False, timeout: float = 60) -> Job:
    """The server's apply job once it ended; `reap`: run the housekeeping meanwhile, which sends
    a job whose wait is over (as the beat does every minute)."""

    def ended() -> Job | None:
        if reap:
            job_reap_stale()
        job = _apply_job(server)
        return job if job is not None and job.state in Job.FINAL_STATES else None

    return wait_for(ended, timeout=timeout, interval=0.3)  # type: ignore[return-value]


def test_each_policy_after_a_build(world):
    with ExitStack() as stack:
        games = {
            p: stack.enter_context(StandInGameServer()) for p in ("now", "when_empty", "announce", "manual")
        }
        games["now"].players = 2
        servers = {p: _register(world["overlay"], g, f"server {p}", p) for p, g in games.items()}
        build = _build(world, "8880001")
        for policy in ("now", "when_empty", "announce"):
            job = _ended(servers[policy])
            assert job.state == "succeeded", (policy, job.error)
            assert re.fullmatch(
                rf"apply to server 'server {policy}' · build {build} changed \d+ items?", job.title
            )
            servers[policy].refresh_from_db()
            assert servers[policy].applied_build == build
            assert servers[policy].status_line.endswith(f"runs the addons of build {build}; up to date")
        assert games["now"].commands == ["update_addon_paths", "mission_reload"]
        assert games["when_empty"].commands == [
            "update_addon_paths",
            "mission_reload",
            "changelevel c2m1_highway",
        ]
        assert _apply_job(servers["manual"]) is None and games["manual"].commands == []
        lines = list(_apply_job(servers["now"]).lines.values_list("text", flat=True))  # type: ignore[union-attr]
        assert "rcon update_addon_paths: Updating addon paths" in lines


def test_waiting_for_players_to_leave_and_a_newer_build_joining(world):
    with StandInGameServer(players=3) as game:
        server = _register(world["overlay"], game, "Versus #1", "when_empty")
        first = _build(world, "8880001")

        def waiting() -> Job | None:
            job = _apply_job(server)
            return job if job is not None and job.waiting_for else None

        job = wait_for(waiting, timeout=30)
        assert job.state == "queued"  # type: ignore[attr-defined]
        assert job.retry_text.startswith("waiting for 'Versus #1' to empty (3 players) · next check ")  # type: ignore[attr-defined]
        second = _build(world, "8880002")
        assert Job.objects.filter(operation=APPLY_TO_SERVER.name).count() == 1
        assert game.commands == []
        game.players = 0
        job = _ended(server, reap=True)
        assert job.state == "succeeded", job.error
        # The folders outlive a test's rows (the worker keeps its data folder): counts may differ.
        assert re.search(
            rf"· build {first} changed \d+ items?; build {second} changed \d+ items?$", job.title
        )
        server.refresh_from_db()
        assert (server.applied_build, server.pending_changes) == (second, 0)
        assert game.commands == ["update_addon_paths", "mission_reload", "changelevel c2m1_highway"]


def test_a_wrong_password_fails_at_once(world):
    with StandInGameServer() as game:
        server = _register(world["overlay"], game, "Versus #1", "now", password="wrong")
        _build(world, "8880001")
        job = _ended(server)
        assert (job.state, job.error, job.retries) == ("failed", "rcon: authentication failed", 0)
        assert "wrong" not in " ".join(job.lines.values_list("text", flat=True))


def test_a_server_down_then_up(world):
    with StandInGameServer() as game:
        game.down()
        server = _register(world["overlay"], game, "Versus #1", "now")
        _build(world, "8880001")
        job = wait_for(
            lambda: Job.objects.filter(operation=APPLY_TO_SERVER.name, retries=1).first(), timeout=30
        )
        assert "does not answer A2S" in job.lines.last().text  # type: ignore[attr-defined,union-attr]
        game.up()
        job = _ended(server, reap=True)
        assert job.state == "succeeded", job.error
        assert game.commands[-1] == "changelevel c2m1_highway"
