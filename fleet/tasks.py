"""The fleet's job tasks (their operations: fleet.operations) and the daily enqueues."""

from __future__ import annotations

from celery import shared_task

from fleet.gc import cache_collect
from fleet.metrics import items_count
from fleet.operations import COLLECT_WORKSHOP_CACHE, REFRESH_WORKSHOP_ITEMS, REINDEX_WORKSHOP_CONTENTS
from fleet.refresh import CHECK_HOST_CACHE_TASK, host_cache_check, items_refresh_all
from fleet.services import cache_collect_enqueue_all, global_refresh_enqueue
from jobs.runner import JobContext, job_task
from left4me.models import Host
from overlays.contents import overlay_contents_refresh
from overlays.models import Overlay
from workshop.contents import contents_reindex


@job_task(REFRESH_WORKSHOP_ITEMS)
def refresh_workshop_items(ctx: JobContext) -> None:
    items_refresh_all(ctx=ctx)


@shared_task(name=CHECK_HOST_CACHE_TASK)
def check_host_cache(host_id: int, skip: list[int]) -> int:
    """Sent by the global refresh to each other host's queue: builds for what its cache lacks."""
    host = Host.objects.filter(pk=host_id).first()
    return len(host_cache_check(host=host, skip=skip)) if host else 0


@shared_task(name="fleet.count_items")
def count_items() -> None:
    """Every LEFT4ME_METRICS_ITEMS_SECONDS (a PeriodicTask): the items by state /metrics shows."""
    items_count()


# The name predates this module and is stored in operators' schedules: it stays.
@shared_task(name="workshop.enqueue_global_refresh")
def enqueue_global_refresh() -> int:
    """What the daily PeriodicTask runs: the same enqueue as `manage.py workshop_refresh`."""
    job, _created = global_refresh_enqueue()
    return job.pk


@job_task(COLLECT_WORKSHOP_CACHE)
def collect_workshop_cache(ctx: JobContext) -> None:
    """Runs on the host whose cache it collects (its subject; none: the default host)."""
    host = Host.objects.filter(pk=ctx.job.subject_id).first() if ctx.job.subject_id else None
    result = cache_collect(log=ctx.log_stdout, host=host)
    ctx.progress(items_done=len(result.removals), items_total=len(result.removals))


@job_task(REINDEX_WORKSHOP_CONTENTS)
def reindex_workshop_contents(ctx: JobContext) -> None:
    """Read every cached upload's VPK tree again (after an upgrade that reads more of it)."""

    def progress(done: int, total: int) -> None:
        ctx.progress(items_done=done, items_total=total)

    read = contents_reindex(progress=progress, log=ctx.log_stderr)
    overlays = list(Overlay.objects.filter(deleting=False))
    for overlay in overlays:
        overlay_contents_refresh(overlay=overlay)
    ctx.log_stdout(f"workshop contents reindexed: {read} upload(s) read, {len(overlays)} overlay(s) updated")


# The name predates this module and is stored in operators' schedules: it stays.
@shared_task(name="overlays.enqueue_cache_collection")
def enqueue_cache_collection() -> int:
    """What the daily PeriodicTask "left4me: collect workshop cache" runs: one collection per
    host; returns the default host's job."""
    return cache_collect_enqueue_all(user=None)[0].pk
