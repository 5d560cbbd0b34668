"""Celery tasks of the jobs app: the reaper (scheduled by celery-beat, see migration 0003)."""

from __future__ import annotations

import logging

from celery import shared_task

from jobs.models import Job
from jobs.services import job_reap_stale
from jobs.signals import reaper_ran

logger = logging.getLogger(__name__)


@shared_task(name="jobs.reap_stale_jobs", ignore_result=True)
def reap_stale_jobs() -> dict[str, int]:
    counts = job_reap_stale()
    reaper_ran.send_robust(sender=Job)
    if any(counts.values()):
        logger.info("reaper: %s", counts)
    return counts
