"""Overlays: create and delete them, queue their jobs (their items: overlays.items)."""

from __future__ import annotations

import shutil
import unicodedata

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from jobs import registry
from jobs.models import Job, JobLogLine
from jobs.services import job_cancel, job_enqueue, job_log, job_subject_lock
from left4me.models import Host, host_default
from left4me.units import counted
from overlays.models import Overlay
from overlays.operations import (
    BUILD_OPERATIONS,
    BUILD_OVERLAY,
    CLEAR_OVERLAY_FOLDER,
    DELETE_OVERLAY,
    FILE_OPERATIONS,
    MOVE_OVERLAY,
    REFRESH_OVERLAY,
    names,
)
from overlays.quotas import quota_of
from overlays.signals import overlay_page_annotations

NAME_MAX = Overlay._meta.get_field("name").max_length or 100


# Power over other users' overlays (Overlay.Meta.permissions).
MANAGE_ALL_OVERLAYS = "overlays.manage_all_overlays"


class OverlayError(ValueError):
    """A user-facing reason why an overlay action was refused."""


# --- who may act on which overlay (the pages and the API alike) ------------------------------


def overlay_for_user(*, user: User, pk: int) -> Overlay:
    """The overlay, if `user` may act on it: its owner or a holder of MANAGE_ALL_OVERLAYS;
    PermissionDenied (403) for anyone else, Http404 when there is none (or it is being deleted)."""
    overlays = Overlay.objects.select_related("owner", "host", "moving_to").annotate(
        **overlay_page_annotations
    )
    overlay = get_object_or_404(overlays, pk=pk, deleting=False)
    if overlay.owner_id != user.pk and not user.has_perm(MANAGE_ALL_OVERLAYS):
        raise PermissionDenied("not your overlay")
    return overlay


def overlays_visible_to(user: User) -> QuerySet[Overlay]:
    """The overlays `user` sees in their list (everyone's for MANAGE_ALL_OVERLAYS), each with the
    state of its latest build (`build_state`)."""
    overlays = Overlay.objects.select_related("owner").filter(deleting=False)
    if not user.has_perm(MANAGE_ALL_OVERLAYS):
        overlays = overlays.filter(owner=user)
    latest = file_jobs(OuterRef("pk"))
    return overlays.annotate(build_state=Subquery(latest.values("state")[:1]))


def usable_hosts(user: User) -> list[Host]:
    """The hosts `user` may place overlays on, the default one first even before it exists."""
    hosts = list(hosts_for_user(user))
    if not Host.objects.filter(name=settings.LEFT4ME_DEFAULT_HOST).exists():
        hosts.insert(0, Host(name=settings.LEFT4ME_DEFAULT_HOST))  # made on first use
    return hosts


def default_host_of(hosts: list[Host]) -> str:
    """LEFT4ME_DEFAULT_HOST, or the first of the user's `hosts` when that one is closed to them."""
    names = [host.name for host in hosts]
    default = settings.LEFT4ME_DEFAULT_HOST
    return default if default in names or not names else names[0]


def host_chosen(*, user: User, name: str) -> Host | None:
    """The host a new overlay goes to when `user` names `name` ("": the user's default; None: the
    default host); overlay_create refuses one the user may not use."""
    name = name or default_host_of(usable_hosts(user))
    if name == settings.LEFT4ME_DEFAULT_HOST:
        return None
    return host_by_name(name)


# --- overlays ---------------------------------------------------------------------------


@transaction.atomic
def overlay_create(*, owner: User, name: str, host: Host | None = None) -> Overlay:
    """A new overlay on `host` (default: LEFT4ME_DEFAULT_HOST). Its folder is made here when this
    process runs on that host, else by a build on the host's worker."""
    name = overlay_create_check(owner=owner, name=name, lock=True)
    host = host or host_default()
    if not hosts_for_user(owner).filter(pk=host.pk).exists():
        raise OverlayError(f"you may not place overlays on host {host.name!r}")
    overlay = Overlay.objects.create(owner=owner, name=name, kind=Overlay.Kind.WORKSHOP, host=host)
    if host.is_here:
        overlay.addons_path.mkdir(parents=True, exist_ok=True)
    else:
        build_enqueue(overlay=overlay, user=owner, reason="created")
    return overlay


def hosts_for_user(user: User) -> QuerySet[Host]:
    """The hosts `user` may place overlays on: those open to all and those naming them; every
    host for holders of overlays.manage_all_overlays."""
    if user.has_perm("overlays.manage_all_overlays"):
        return Host.objects.all()
    return Host.objects.filter(Q(open_to_all=True) | Q(users=user)).distinct()


def host_by_name(name: str) -> Host:
    """The host named `name` (as a form gives it), or OverlayError."""
    host = Host.objects.filter(name=name).first()
    if host is None:
        raise OverlayError(f"there is no host {name!r}")
    return host


def overlay_create_check(*, owner: User, name: str, lock: bool = False) -> str:
    """The name `owner` may give a new overlay (stripped), or OverlayError saying why not: the
    checks of overlay_create, also for forms that want to show them before saving."""
    name = name.strip()
    if not name:
        raise OverlayError("name is required")
    if len(name) > NAME_MAX:
        raise OverlayError(f"name is too long: {len(name)} characters (at most {NAME_MAX})")
    # Cf: bidi overrides and zero-width characters, which make a name read as another.
    if any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in name):
        raise OverlayError("name must not contain control or format characters")
    quota = quota_of(owner, lock=lock)
    if quota.overlays_full:
        raise OverlayError(
            f"quota reached: at most {counted(quota.max_overlays or 0, 'overlay')}, you have {quota.used_overlays}"
        )
    if Overlay.objects.filter(owner=owner, name=name).exists():
        raise OverlayError(f"you already have an overlay named {name!r}")
    return name


@transaction.atomic
def overlay_delete_enqueue(*, overlay: Overlay, user: User | None) -> Job:
    """Hide the overlay at once, cancel its builds, and queue the job that removes its folder
    (after any build still running has stopped) and then its row."""
    Overlay.objects.filter(pk=overlay.pk).update(deleting=True, moving_to=None)
    builds = Job.objects.of(overlay).filter(
        operation__in=names(BUILD_OPERATIONS), state__in=Job.ACTIVE_STATES
    )
    for build in builds:
        job_cancel(job=build)
    job, _created = job_enqueue(
        operation=DELETE_OVERLAY, subject=overlay, owner=overlay.owner, user=user, reason="delete"
    )
    return job


def overlay_delete(*, overlay: Overlay) -> None:
    """Remove the row (and its item links) and its folder; cache files are shared and stay."""
    path = overlay.path
    overlay.delete()
    # rmtree never follows symlinks, so the cache files the links point at survive.
    shutil.rmtree(path, ignore_errors=True)


# --- jobs -------------------------------------------------------------------------------


@transaction.atomic
def overlay_move_enqueue(*, overlay: Overlay, host: Host, user: User | None) -> Job:
    """Staff move an overlay to another host: a job builds it there, then the old folder goes."""
    overlay = Overlay.objects.select_for_update(of=("self",)).select_related("host").get(pk=overlay.pk)
    if overlay.deleting:
        raise OverlayError("the overlay is being deleted")
    if overlay.host_id == host.pk:
        raise OverlayError(f"the overlay is on host {host.name!r} already")
    moving = Job.objects.of(overlay).filter(operation=MOVE_OVERLAY.name, state__in=Job.ACTIVE_STATES)
    if overlay.moving_to_id not in (None, host.pk) and moving.exists():
        raise OverlayError(f"the overlay is moving to host {overlay.moving_to} already")
    overlay.moving_to = host
    overlay.save(update_fields=["moving_to"])
    job, _created = job_enqueue(
        operation=MOVE_OVERLAY, subject=overlay, owner=overlay.owner, user=user, reason=f"to {host.name}"
    )
    return job


def overlay_move_asked(*, overlay: Overlay, host_name: str, user: User) -> Job:
    """An operator (MANAGE_ALL_OVERLAYS) moves the overlay to the host named `host_name`:
    PermissionDenied for anyone else, OverlayError when no such host is named."""
    if not user.has_perm(MANAGE_ALL_OVERLAYS):
        raise PermissionDenied("operators only")
    if not host_name:
        raise OverlayError("Choose a host to move the overlay to.")
    return overlay_move_enqueue(overlay=overlay, host=host_by_name(host_name), user=user)


@transaction.atomic
def overlay_move_finish(*, overlay: Overlay) -> tuple[Host, Host]:
    """The overlay now lives on the host it moved to: (the host it left, the new one). Its
    builds and refreshes queued meanwhile (for the host it left) go with it."""
    job_subject_lock(subject=overlay)  # no job of the overlay is enqueued for its old host meanwhile
    locked = (
        Overlay.objects.select_for_update(of=("self",)).select_related("host", "moving_to").get(pk=overlay.pk)
    )
    old, new = locked.host, locked.moving_to
    if new is None:
        raise OverlayError("the overlay is not moving")
    Overlay.objects.filter(pk=overlay.pk).update(host=new, moving_to=None)
    locked.host, locked.moving_to = new, None
    _file_jobs_move_along(overlay=locked, host=new)
    return old, new


def _file_jobs_move_along(*, overlay: Overlay, host: Host) -> None:
    """Each file job of the overlay still queued (for the host it left) is cancelled and asked
    again, so its operation picks the overlay's new host; the only place a host change meets
    jobs already queued."""
    queued = Job.objects.of(overlay).filter(operation__in=names(FILE_OPERATIONS), state=Job.State.QUEUED)
    for job in queued.select_related("user").order_by("id"):
        job_cancel(job=job)
        again, _created = job_enqueue(
            operation=registry.get(job.operation),
            subject=overlay,
            owner=overlay.owner,
            user=job.user,
            reason=job.reason,
        )
        text = f"the overlay moved to host {host}: job {again.pk} runs this there"
        job_log(job_id=job.pk, text=text, stream=JobLogLine.Stream.STDERR)


def old_folder_clear_enqueue(*, overlay: Overlay, host: Host) -> Job:
    """Remove an overlay's folder on a host it has left (after a move), on that host's worker."""
    job, _created = job_enqueue(
        operation=CLEAR_OVERLAY_FOLDER,
        subject=overlay,
        owner=overlay.owner,
        host=host,
        reason=f"moved from {host.name}",
    )
    return job


def build_enqueue(*, overlay: Overlay, user: User | None, reason: str) -> Job:
    """The overlay's build; `reason` says why ("added 3 items") and joins those of a build that
    is still queued."""
    job, _created = job_enqueue(
        operation=BUILD_OVERLAY, subject=overlay, owner=overlay.owner, user=user, reason=reason
    )
    return job


def overlay_refresh_enqueue(*, overlay: Overlay, user: User | None) -> tuple[Job, bool]:
    if not overlay.workshop_links.exists() and not overlay.workshop_collections.exists():
        raise OverlayError("overlay has no items")
    return job_enqueue(
        operation=REFRESH_OVERLAY, subject=overlay, owner=overlay.owner, user=user, reason="refresh"
    )


def file_jobs(overlay_pk: int | OuterRef) -> QuerySet[Job]:
    """The jobs that wrote (or will write) an overlay's files, newest first; `overlay_pk` may be
    OuterRef("pk") in a subquery of overlays."""
    return Job.objects.filter(
        subject_type=ContentType.objects.get_for_model(Overlay),
        subject_id=overlay_pk,
        operation__in=names(FILE_OPERATIONS),
    ).order_by("-id")


def latest_file_job(overlay: Overlay) -> Job | None:
    """The overlay's latest build (or refresh): what its pages show as its state."""
    return file_jobs(overlay.pk).first()
