"""The apply of an overlay's new addons/ to a running server: wait as its policy says, send the
RCON commands that make it load them, check that it answers again."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from jobs.runner import JobContext, JobFailed, JobRetryable, JobWait
from left4me.units import counted
from servers.models import GameServer
from servers.query import Answer, Rcon, RconAuthFailed, RconUnreachable, a2s_info, wait_until_up
from servers.services import latest_build
from servers.status import status_store

# How long a server may stay silent after the apply (a map reload) before the apply fails.
UP_AGAIN_SECONDS = 60.0
ONE_MINUTE_NOTICE = "The server loads new addons in 1 minute."


def server_apply(*, server: GameServer, ctx: JobContext) -> None:
    """See README "Game servers". The build applied is the newest one when the run starts."""
    target = latest_build(server.overlay_id)
    answer = _ask(server)
    if answer.players and not (server.apply_now or server.apply_policy == GameServer.Policy.NOW):
        if server.apply_policy == GameServer.Policy.ANNOUNCE:
            _announce(server, ctx)
        else:
            _wait_for_empty(server, ctx, answer)
    _send(server, ctx, answer)
    GameServer.objects.filter(pk=server.pk).update(applied_build=target, apply_now=False, apply_due_at=None)
    after = wait_until_up(server.address, server.port, seconds=UP_AGAIN_SECONDS)
    status_store(server, after)
    if not after.up:
        raise JobFailed(
            f"server '{server.name}' did not answer A2S within {UP_AGAIN_SECONDS:g} s after the apply"
        )
    ctx.log_stdout(f"server '{server.name}' runs the addons of build {target}: {server.status_text}")


def _ask(server: GameServer) -> Answer:
    answer = a2s_info(server.address, server.port)
    status_store(server, answer)
    if not answer.up:
        raise JobRetryable(
            f"server '{server.name}' does not answer A2S at {server.address}:{server.port} ({answer.error})"
        )
    return answer


def _wait_for_empty(server: GameServer, ctx: JobContext, answer: Answer) -> None:
    """Policy when_empty: wait in the job's row while players are on, up to LEFT4ME_APPLY_WAIT_HOURS."""
    hours = settings.LEFT4ME_APPLY_WAIT_HOURS
    if timezone.now() - ctx.job.created_at >= timedelta(hours=hours):
        raise JobFailed(
            f"gave up after {hours:g} h: '{server.name}' still has {counted(answer.players, 'player')}"
        )
    until = timezone.now() + timedelta(seconds=settings.LEFT4ME_APPLY_CHECK_SECONDS)
    raise JobWait(f"waiting for '{server.name}' to empty ({counted(answer.players, 'player')})", until)


def _announce(server: GameServer, ctx: JobContext) -> None:
    """Policy announce: say it LEFT4ME_APPLY_ANNOUNCE_MINUTES before, again at 1 minute, then go on."""
    now = timezone.now()
    due = server.apply_due_at
    if due is None:
        minutes = settings.LEFT4ME_APPLY_ANNOUNCE_MINUTES
        due = now + timedelta(minutes=minutes)
        _rcon(
            server,
            ctx,
            [f"say The server loads new addons in {minutes} minute{'' if minutes == 1 else 's'}."],
        )
        GameServer.objects.filter(pk=server.pk).update(apply_due_at=due)
        server.apply_due_at = due
    at = timezone.localtime(due).strftime("%H:%M")
    if now < due - timedelta(minutes=1):
        raise JobWait(
            f"announced to the players of '{server.name}': applying at {at}", due - timedelta(minutes=1)
        )
    if now < due:
        if not ctx.job.lines.filter(text__contains=ONE_MINUTE_NOTICE).exists():
            _rcon(server, ctx, [f"say {ONE_MINUTE_NOTICE}"])
        raise JobWait(f"announced to the players of '{server.name}': applying at {at}", due)


def _send(server: GameServer, ctx: JobContext, answer: Answer) -> None:
    commands = list(server.commands)
    if answer.players == 0 and answer.map:
        commands.append(f"changelevel {answer.map}")
    _rcon(server, ctx, commands)


def _rcon(server: GameServer, ctx: JobContext, commands: list[str]) -> None:
    """Run `commands` in one RCON session, each answer in the job log. A refused password
    fails the job at once; an unreachable server is retried."""
    try:
        with Rcon(server.address, server.rcon_port, server.rcon_password) as rcon:
            for command in commands:
                said = rcon.run(command).strip()
                ctx.log_stdout(f"rcon {command}: {said}" if said else f"rcon {command}")
    except RconAuthFailed as exc:
        raise JobFailed(str(exc)) from None
    except RconUnreachable as exc:
        raise JobRetryable(str(exc)) from None
