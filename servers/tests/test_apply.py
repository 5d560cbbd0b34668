"""The apply's work against the stand-in game server: policies, RCON answers in the log, failures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.runner import JobFailed, JobRetryable, JobWait
from servers.apply import server_apply
from servers.models import AddonsChange, GameServer
from servers.operations import APPLY_TO_SERVER
from tests.support.helpers import FakeContext, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job_ctx(server, ctx: FakeContext) -> FakeContext:
    ctx.job = make_job(APPLY_TO_SERVER, subject=server)
    ctx.job_id = ctx.job.pk
    AddonsChange.objects.create(overlay=server.overlay, build=41, items=5)
    return ctx


def _policy(server: GameServer, policy: str) -> GameServer:
    GameServer.objects.filter(pk=server.pk).update(apply_policy=policy)
    server.refresh_from_db()
    return server


def test_an_empty_server_applies_at_once_and_changes_level(server, game, job_ctx):
    server_apply(server=server, ctx=job_ctx)
    assert game.commands == ["update_addon_paths", "mission_reload", "changelevel c2m1_highway"]
    assert job_ctx.stdout[:3] == [
        "rcon update_addon_paths: Updating addon paths",
        "rcon mission_reload: Reloading missions",
        "rcon changelevel c2m1_highway: changelevel to c2m1_highway",
    ]
    server.refresh_from_db()
    assert (server.applied_build, server.state, server.pending_changes) == (41, "up", 0)
    assert server.status_line.endswith("runs the addons of build 41; up to date")


def test_when_empty_waits_while_players_are_on(server, game, job_ctx):
    game.players, game.bots = 3, 2
    with pytest.raises(JobWait) as waited:
        server_apply(server=server, ctx=job_ctx)
    assert waited.value.waiting_for == "waiting for 'Versus #1' to empty (3 players)"
    assert waited.value.until > timezone.now()
    assert game.commands == []
    server.refresh_from_db()
    assert (server.players, server.applied_build) == (3, None)


def test_bots_alone_do_not_keep_it_waiting(server, game, job_ctx):
    game.bots = 4
    server_apply(server=server, ctx=job_ctx)
    assert game.commands[-1] == "changelevel c2m1_highway"


def test_when_empty_gives_up_after_the_wait_hours(server, game, job_ctx, settings):
    settings.LEFT4ME_APPLY_WAIT_HOURS = 12
    game.players = 1
    job_ctx.job.created_at = timezone.now() - timedelta(hours=12, seconds=1)
    with pytest.raises(JobFailed, match=r"gave up after 12 h: 'Versus #1' still has 1 player$"):
        server_apply(server=server, ctx=job_ctx)


def test_now_applies_with_players_on_without_changelevel(server, game, job_ctx):
    game.players = 3
    server_apply(server=_policy(server, "now"), ctx=job_ctx)
    assert game.commands == ["update_addon_paths", "mission_reload"]


def test_apply_by_hand_does_not_wait(server, game, job_ctx):
    game.players = 3
    GameServer.objects.filter(pk=server.pk).update(apply_now=True)
    server.refresh_from_db()
    server_apply(server=server, ctx=job_ctx)
    server.refresh_from_db()
    assert game.commands == ["update_addon_paths", "mission_reload"] and not server.apply_now


def test_announce_says_it_then_at_one_minute_then_applies(server, game, job_ctx, settings):
    settings.LEFT4ME_APPLY_ANNOUNCE_MINUTES = 5
    game.players = 2
    server = _policy(server, "announce")
    with pytest.raises(JobWait) as waited:
        server_apply(server=server, ctx=job_ctx)
    assert game.commands == ["say The server loads new addons in 5 minutes."]
    assert waited.value.until == server.apply_due_at - timedelta(minutes=1)
    GameServer.objects.filter(pk=server.pk).update(apply_due_at=timezone.now() + timedelta(seconds=30))
    server.refresh_from_db()
    with pytest.raises(JobWait):
        server_apply(server=server, ctx=job_ctx)
    assert game.commands[-1] == "say The server loads new addons in 1 minute."
    GameServer.objects.filter(pk=server.pk).update(apply_due_at=timezone.now() - timedelta(seconds=1))
    server.refresh_from_db()
    server_apply(server=server, ctx=job_ctx)
    assert game.commands[-2:] == ["update_addon_paths", "mission_reload"]
    server.refresh_from_db()
    assert server.apply_due_at is None and server.applied_build == 41


def test_a_wrong_password_fails_at_once(server, game, job_ctx):
    GameServer.objects.filter(pk=server.pk).update(rcon_password="wrong")
    server.refresh_from_db()
    with pytest.raises(JobFailed) as failed:
        server_apply(server=server, ctx=job_ctx)
    assert str(failed.value) == "rcon: authentication failed"
    assert not isinstance(failed.value, JobRetryable)
    assert "wrong" not in " ".join(job_ctx.stdout + job_ctx.stderr)


def test_a_server_that_does_not_answer_is_retried(server, game, job_ctx):
    game.down()
    with pytest.raises(JobRetryable, match="server 'Versus #1' does not answer A2S"):
        server_apply(server=server, ctx=job_ctx)
    server.refresh_from_db()
    assert server.state == "down"


def test_rcon_refused_is_retried(server, game, job_ctx):
    GameServer.objects.filter(pk=server.pk).update(rcon_port=1)
    server.refresh_from_db()
    with pytest.raises(JobRetryable, match=r"rcon: 127.0.0.1:1 unreachable"):
        server_apply(server=server, ctx=job_ctx)


def test_the_commands_are_configurable_per_server(server, game, job_ctx):
    GameServer.objects.filter(pk=server.pk).update(
        apply_commands="update_addon_paths\n\nsm plugins refresh\n"
    )
    server.refresh_from_db()
    server_apply(server=server, ctx=job_ctx)
    assert game.commands == ["update_addon_paths", "sm plugins refresh", "changelevel c2m1_highway"]
    assert 'rcon sm plugins refresh: Unknown command "sm"' in job_ctx.stdout


def test_the_server_must_answer_again_after_the_apply(server, game, job_ctx, monkeypatch):
    monkeypatch.setattr("servers.apply.UP_AGAIN_SECONDS", 0.3)
    game.reload_seconds = 5
    with pytest.raises(JobFailed, match=r"did not answer A2S within 0\.3 s after the apply"):
        server_apply(server=server, ctx=job_ctx)
