"""The notices' job task: it binds the delivery to its operation (notices.operations)."""

from __future__ import annotations

from jobs.runner import JobContext, JobFailed, job_task
from notices.models import Destination
from notices.operations import DELIVER_NOTICES
from notices.services import notices_deliver


@job_task(DELIVER_NOTICES)
def deliver_notices(ctx: JobContext) -> None:
    pk = ctx.job.subject_id
    destination = Destination.objects.filter(pk=pk).first() if pk else None
    if destination is None:
        raise JobFailed("the destination no longer exists")
    notices_deliver(destination=destination, ctx=ctx)
