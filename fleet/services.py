"""The fleet's jobs: the refresh of every overlay, cache collection per host, reindexing."""

from __future__ import annotations

from typing import TypedDict

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django_stubs_ext import WithAnnotations

from fleet.operations import COLLECT_WORKSHOP_CACHE, REFRESH_WORKSHOP_ITEMS, REINDEX_WORKSHOP_CONTENTS
from jobs.models import Job
from jobs.services import job_enqueue
from left4me.models import Host, host_default
from overlays.services import host_by_name

# Power over the shared cache and the hosts (Overlay.Meta.permissions: the codename predates
# this app).
VIEW_STORAGE = "overlays.view_storage"


def storage_viewer_only(user: User) -> None:
    """PermissionDenied (403) for anyone without VIEW_STORAGE: storage and hosts are operators'."""
    if not user.has_perm(VIEW_STORAGE):
        raise PermissionDenied("operators only")


def global_refresh_enqueue() -> tuple[Job, bool]:
    """The one entry point of the CLI, celery-beat and the admin: coalesces with a live one."""
    return job_enqueue(operation=REFRESH_WORKSHOP_ITEMS)


def cache_collect_enqueue(*, user: User | None, host: Host | None = None) -> tuple[Job, bool]:
    """Garbage collection of one host's workshop cache, on that host (default: the default host),
    as a job (*Collect now* on the Storage page)."""
    return job_enqueue(operation=COLLECT_WORKSHOP_CACHE, subject=host or host_default(), user=user)


def host_named_or_default(name: str) -> Host:
    """The host *Collect now* names (the Storage page and the API), else the default host;
    OverlayError for a name no host has."""
    return host_by_name(name) if name else host_default()


class OverlayCount(TypedDict):
    overlay_count: int


def hosts_with_overlay_counts() -> QuerySet[WithAnnotations[Host, OverlayCount]]:
    """Every host by name, each with `overlay_count`, as the Storage page and the API list them."""
    return Host.objects.annotate(overlay_count=Count("overlays")).order_by("name")


def cache_collect_enqueue_all(*, user: User | None) -> list[Job]:
    """One cache collection per host (the daily schedule): the default host's first, then each
    other host with overlays or a report, each on its own host's queue."""
    default = host_default()
    others = Host.objects.filter(Q(overlays__isnull=False) | Q(last_seen_at__isnull=False))
    hosts = [default, *others.exclude(pk=default.pk).distinct().order_by("name")]
    return [cache_collect_enqueue(user=user, host=host)[0] for host in hosts]


def contents_reindex_enqueue() -> tuple[Job, bool]:
    """Read every cached upload's VPK again (`manage.py workshop_inspect --reindex`)."""
    return job_enqueue(operation=REINDEX_WORKSHOP_CONTENTS)
