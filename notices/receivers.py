"""What notices hear from the apps below (their signals), turned into notices for the owners
and operators whose destinations take the event."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.dispatch import receiver

from jobs.models import Job
from jobs.signals import job_ended, reaper_ran
from left4me.models import Host
from left4me.units import human_bytes
from notices.events import Event
from notices.models import Notice
from notices.services import notice_announce
from overlays.models import Overlay
from overlays.operations import FILE_OPERATIONS, names
from overlays.signals import disk_low, items_gone_upstream, items_updated, quota_near, skip_ended
from servers.operations import APPLY_TO_SERVER
from workshop.models import WorkshopItem

BUILDS = frozenset(names(FILE_OPERATIONS))


@receiver(items_updated)
def tell_items_updated(sender: Any, *, overlay: Overlay, build: int, summary: str, **kwargs: Any) -> None:
    notice_announce(
        user=overlay.owner, event=Event.ITEMS_UPDATED, title=f"{overlay.name}: items updated", body=summary
    )


@receiver(skip_ended)
def tell_skip_ended(
    sender: Any, *, overlay: Overlay, item: WorkshopItem, skipped: int, **kwargs: Any
) -> None:
    notice_announce(
        user=overlay.owner,
        event=Event.ITEMS_UPDATED,
        title=f"{overlay.name}: {item.label} has a newer upload",
        body=f"Steam has an upload of {item.label} newer than the one you skipped: {overlay.name} follows Steam again.",
    )


@receiver(items_gone_upstream)
def tell_items_gone(sender: Any, *, steam_ids: list[str], overlay_ids: list[int], **kwargs: Any) -> None:
    labels = ", ".join(item.label for item in WorkshopItem.objects.filter(steam_id__in=steam_ids))
    for overlay in Overlay.objects.filter(pk__in=overlay_ids).select_related("owner"):
        notice_announce(
            user=overlay.owner,
            event=Event.ITEM_GONE,
            title=f"{overlay.name}: removed upstream",
            body=f"Steam no longer serves {labels}: the cached files stay linked, marked on the overlay's page.",
        )


@receiver(job_ended)
def tell_job_ended(sender: Any, *, job_id: int, state: str, **kwargs: Any) -> None:
    job = Job.objects.select_related("owner").filter(pk=job_id).first()
    if job is None or job.owner is None:
        return
    if job.operation in BUILDS and state == Job.State.FAILED:
        tried = f" after {job.retries} retries" if job.retries else ""
        notice_announce(
            user=job.owner, event=Event.BUILD_FAILED, title=f"{job.title} failed{tried}", body=job.error
        )
    elif job.operation == APPLY_TO_SERVER.name and state == Job.State.FAILED:
        notice_announce(user=job.owner, event=Event.APPLY_FAILED, title=f"{job.title} failed", body=job.error)
    elif job.operation == APPLY_TO_SERVER.name and state == Job.State.SUCCEEDED:
        notice_announce(
            user=job.owner,
            event=Event.SERVER_APPLIED,
            title=f"{job.title}: done",
            body=job.summary or job.title,
        )


@receiver(reaper_ran)
def tell_hosts_down(sender: Any, **kwargs: Any) -> None:
    """Once per silence: a host down is told unless it was told since its worker last reported."""
    for host in Host.objects.filter(last_seen_at__isnull=False):
        title = f"host {host.name} is down"
        if host.is_down and not Notice.objects.filter(title=title, created_at__gt=host.last_seen_at).exists():
            notice_announce(
                user=None,
                event=Event.HOST_DOWN,
                title=title,
                body=f"No report from its worker since {host.last_seen_at:%Y-%m-%d %H:%M} UTC: its jobs wait.",
            )


@receiver(disk_low)
def tell_disk_low(sender: Any, *, host: str, free: int, need: int, **kwargs: Any) -> None:
    notice_announce(
        user=None,
        event=Event.DISK_LOW,
        title=f"host {host}: disk low",
        body=f"A build needs {human_bytes(need)} and {human_bytes(free)} are free: it was refused.",
    )


@receiver(quota_near)
def tell_quota_near(sender: Any, *, user: User, used: int, limit: int, **kwargs: Any) -> None:
    notice_announce(
        user=None,
        event=Event.QUOTA_NEAR,
        title=f"{user.get_username()} is near their quota",
        body=f"{human_bytes(used)} of {human_bytes(limit)} of workshop items in use.",
    )
