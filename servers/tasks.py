"""The servers' tasks: the status poll (beat, then one task per host on its queue) and the apply
job (its operation: servers.operations)."""

from __future__ import annotations

from celery import current_app, shared_task
from django.conf import settings

from jobs.runner import JobContext, JobFailed, job_task
from left4me.models import Host
from servers.apply import server_apply
from servers.models import GameServer
from servers.operations import APPLY_TO_SERVER
from servers.status import servers_poll

POLL_HOST_TASK = "servers.poll_host_servers"


@shared_task(name="servers.poll_servers", ignore_result=True)
def poll_servers() -> int:
    """What the PeriodicTask "left4me: poll game servers" runs: one poll per host that has
    servers, on that host's queue (game servers often sit on a private network beside it)."""
    hosts = Host.objects.filter(servers__isnull=False).distinct()
    for host in hosts:
        # A poll no worker took before the next one is worth nothing: it expires.
        current_app.send_task(
            POLL_HOST_TASK, args=[host.pk], queue=host.job_queue, expires=settings.LEFT4ME_SERVER_POLL_SECONDS
        )
    return len(hosts)


@shared_task(name=POLL_HOST_TASK, ignore_result=True)
def poll_host_servers(host_id: int) -> int:
    return servers_poll(servers=list(GameServer.objects.filter(host_id=host_id).order_by("id")))


@job_task(APPLY_TO_SERVER)
def apply_to_server(ctx: JobContext) -> None:
    servers = GameServer.objects.select_related("overlay", "host")
    server = servers.filter(pk=ctx.job.subject_id).first() if ctx.job.subject_id else None
    if server is None:
        raise JobFailed("server no longer exists")
    server_apply(server=server, ctx=ctx)
