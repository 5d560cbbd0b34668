"""Workshop job work and the task celery-beat calls for the daily refresh."""

from __future__ import annotations

from celery import shared_task

from jobs.models import Job
from jobs.runner import JobContext, job_task
from workshop.services import global_refresh_enqueue, items_refresh_all


@job_task(Job.Operation.REFRESH_WORKSHOP_ITEMS)
def refresh_workshop_items(ctx: JobContext) -> None:
    items_refresh_all(ctx=ctx)


@shared_task(name="workshop.enqueue_global_refresh")
def enqueue_global_refresh() -> int:
    """What the daily PeriodicTask runs: the same enqueue as `manage.py workshop_refresh`."""
    job, _created = global_refresh_enqueue()
    return job.pk
