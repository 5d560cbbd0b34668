"""The refresh of every overlay: Steam is asked once for every item in use, builds fan out to the
overlays whose files must change, and each other host checks its own cache."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction

from jobs.runner import JobContext
from left4me.models import Host
from overlays.models import Overlay
from overlays.refresh import RefreshResult, chunks, items_refresh, linked_ids, refresh_errors_raise
from overlays.services import build_enqueue
from workshop.cache import CacheState
from workshop.models import WorkshopItem

logger = logging.getLogger(__name__)

# The stored name of fleet.tasks.check_host_cache (kept from before the fleet app).
CHECK_HOST_CACHE_TASK = "overlays.check_host_cache"


def items_refresh_all(*, ctx: JobContext) -> RefreshResult:
    """Refresh every item in use; enqueue builds only for overlays whose files must change.

    What Steam answered is kept even when some calls failed for good: those items keep their
    old data, the builds for the changes found are still queued, and the job then fails
    naming the failed calls.
    """
    result = items_refresh(overlay_ids=None, ctx=ctx)
    for pks in chunks(sorted(result.overlays)):
        overlays = Overlay.objects.filter(pk__in=pks, deleting=False).select_related("host")
        for overlay in overlays.order_by("pk"):
            job = build_enqueue(overlay=overlay, user=None, reason="daily refresh")
            ctx.log_stdout(
                f"enqueued {job.operation} job {job.pk} for overlay '{overlay.name}' on host {overlay.host}"
            )
    _ask_other_hosts(result, ctx)
    refresh_errors_raise(result)
    return result


def _ask_other_hosts(result: RefreshResult, ctx: JobContext) -> None:
    """The caches of other hosts are not on this machine: each host's worker checks its own for
    items its overlays miss (`host_cache_check`), skipping the overlays already being built."""
    others = Host.objects.filter(overlays__deleting=False).exclude(name=settings.LEFT4ME_HOST).distinct()
    skip = sorted(result.overlays)
    for host in others:
        transaction.on_commit(
            partial(
                current_app.send_task,
                CHECK_HOST_CACHE_TASK,
                args=[host.pk, skip],
                queue=host.job_queue,
            )
        )
        ctx.log_stdout(f"asked host {host} to check its workshop cache for items its overlays miss")


def host_cache_check(*, host: Host, skip: Iterable[int] = ()) -> list[int]:
    """On `host`'s worker: queue builds for its overlays (but `skip`) linking an item Steam
    serves that its cache lacks or holds stale. Returns the overlays' ids."""
    if not host.is_here:
        logger.warning("cache of host %s not checked: this is host %s", host, settings.LEFT4ME_HOST)
        return []
    ids = Overlay.objects.filter(host=host, deleting=False).exclude(pk__in=list(skip))
    linked = linked_ids(list(ids.values_list("pk", flat=True)))
    steam_ids = sorted({sid for sids in linked.values() for sid in sids})
    missing: set[str] = set()
    for chunk in chunks(steam_ids):
        rows = WorkshopItem.objects.filter(steam_id__in=chunk).exclude(file_url="")
        missing |= {row.steam_id for row in rows if row.cache_state() != CacheState.CACHED}
    affected = sorted(oid for oid, sids in linked.items() if sids & missing)
    for overlay in Overlay.objects.filter(pk__in=affected).order_by("pk"):
        build_enqueue(overlay=overlay, user=None, reason="daily refresh")
    return affected
