"""Celery tasks of the jobs app: the reaper (scheduled by celery-beat, see migration 0003)."""

from __future__ import annotations

import logging

from jobs.services import job_reap_stale
from left4me.celery import app

logger = logging.getLogger(__name__)


@app.task(name="jobs.reap_stale_jobs", ignore_result=True)
def reap_stale_jobs() -> dict[str, int]:
    counts = job_reap_stale()
    if any(counts.values()):
        logger.info("reaper: %s", counts)
    return counts
