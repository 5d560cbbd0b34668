"""The API's routes. Each calls the services the pages call, with the same access checks
(overlay_for_user, job_for_user), and answers what the page shows; it adds no rule of its own."""

from __future__ import annotations

from dataclasses import asdict

from django.core.paginator import Paginator
from django.http import HttpRequest
from django.urls import reverse
from ninja import Router, Status

from api.auth import ApiRequest
from api.schemas import (
    Error,
    ItemPage,
    ItemsAdded,
    ItemsIn,
    JobCancelled,
    JobDetailOut,
    JobPage,
    JobStarted,
    MoveIn,
    OverlayDetailOut,
    OverlayIn,
    OverlayOut,
    RollbackIn,
    UnfollowIn,
    UploadOut,
)
from jobs.models import Job
from jobs.services import job_cancel, job_for_user, job_retry_now
from jobs.views import JOBS_PER_PAGE, list_filters, retry_refused, status_body
from overlays.items import (
    KeptUpload,
    collection_item_exclude,
    collection_item_include,
    collection_unfollow,
    history_link,
    item_history,
    item_rollback,
    item_skip_upload,
    items_add,
    items_pin,
    items_remove,
    items_retry_failed,
    items_unpin,
    unfollow_keeps,
)
from overlays.models import Overlay
from overlays.pages import ItemQuery, Row, downloading, item_page, links_of
from overlays.players import overlay_share_by, overlay_share_revoke
from overlays.services import (
    build_enqueue,
    host_chosen,
    latest_file_job,
    overlay_create,
    overlay_delete_enqueue,
    overlay_for_user,
    overlay_move_asked,
    overlay_refresh_enqueue,
    overlays_visible_to,
)


class JobRefused(ValueError):
    """A job action that does not apply to the job now (answered 400, as the job's page does)."""


overlays = Router(tags=["overlays"])
jobs = Router(tags=["jobs"])

REFUSED = {400: Error, 403: Error, 404: Error}
STARTED = {202: JobStarted, **REFUSED}


def started(job: Job, **more: object) -> Status[dict[str, object]]:
    return Status(202, {"job": job.pk, "url": reverse("jobs:detail", args=[job.pk]), **more})


# --- overlays ---------------------------------------------------------------------------------


def _overlay_row(overlay: Overlay) -> dict[str, object]:
    return {
        "id": overlay.pk,
        "name": overlay.name,
        "owner": overlay.owner.get_username(),
        "host": overlay.host.name,
        "build_state": getattr(overlay, "build_state", None),
        "url": overlay.get_absolute_url(),
    }


def share_url(request: HttpRequest, overlay: Overlay) -> str | None:
    """The players' page of the overlay while it is on, else None."""
    return request.build_absolute_uri(overlay.share_url) if overlay.share_url else None


def _overlay_detail(request: HttpRequest, overlay: Overlay) -> dict[str, object]:
    latest = latest_file_job(overlay)
    build = latest and {
        "id": latest.pk,
        "state": latest.state,
        "url": reverse("jobs:detail", args=[latest.pk]),
    }
    return _overlay_row(overlay) | {
        "build_state": latest.state if latest else None,
        "created_at": overlay.created_at,
        "items": asdict(links_of(overlay).health()),
        "latest_build": build or None,
        "collections": [
            {"steam_id": c.steam_id, "title": c.title} for c in overlay.workshop_collections.order_by("id")
        ],
        "share_url": share_url(request, overlay),
    }


@overlays.get("", response=list[OverlayOut])
def overlay_list(request: ApiRequest) -> list[dict[str, object]]:
    """The overlays the token's user sees on the overlay list."""
    return [_overlay_row(o) for o in overlays_visible_to(request.user).select_related("host")]


@overlays.post("", response={201: OverlayDetailOut, **REFUSED})
def overlay_new(request: ApiRequest, body: OverlayIn) -> Status[dict[str, object]]:
    """Create an overlay (`host`: one the user may use; empty: their default)."""
    host = host_chosen(user=request.user, name=body.host)
    overlay = overlay_create(owner=request.user, name=body.name, host=host)
    return Status(201, _overlay_detail(request, overlay_for_user(user=request.user, pk=overlay.pk)))


@overlays.get("/{int:overlay_id}", response={200: OverlayDetailOut, **REFUSED})
def overlay_read(request: ApiRequest, overlay_id: int) -> dict[str, object]:
    return _overlay_detail(request, overlay_for_user(user=request.user, pk=overlay_id))


@overlays.delete("/{int:overlay_id}", response=STARTED)
def overlay_delete(request: ApiRequest, overlay_id: int) -> Status[dict[str, object]]:
    """Delete an overlay: hidden at once, its folder removed by the job."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    return started(overlay_delete_enqueue(overlay=overlay, user=request.user))


def _item(row: Row) -> dict[str, object]:
    item = row.link.item
    return {
        "steam_id": item.steam_id,
        "title": item.title,
        "state": row.state.value,
        "label": row.label,
        "size": item.file_size,
        "pinned": row.link.pinned_version is not None,
        "update_available": row.update_available,
        "sources": row.sources,
        "error": item.last_error,
    }


@overlays.get("/{int:overlay_id}/items", response={200: ItemPage, **REFUSED})
def item_list(
    request: ApiRequest, overlay_id: int, q: str = "", state: str = "", sort: str = "title", page: int = 1
) -> dict[str, object]:
    """The overlay's items as its page lists them: the same search (`q`), state filter, sort
    and pages of 100, each item in the state the page shows."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    collections = list(overlay.workshop_collections.all())
    shown, rows = item_page(
        overlay,
        ItemQuery.from_params({"q": q, "state": state, "sort": sort}),
        str(page),
        total=links_of(overlay).count(),
        collections=collections,
        active=downloading(latest_file_job(overlay)),
    )
    return {
        "count": shown.paginator.count,
        "page": shown.number,
        "pages": shown.paginator.num_pages,
        "items": [_item(row) for row in rows],
    }


@overlays.post("/{int:overlay_id}/items", response={202: ItemsAdded, **REFUSED})
def items_new(request: ApiRequest, overlay_id: int, body: ItemsIn) -> Status[dict[str, object]]:
    """Add items and collections, the mixed input the overlay page's form takes."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    result = items_add(overlay=overlay, text=body.input, input_mode=body.mode, user=request.user)
    return started(result.job, added=result.added, left_out=result.messages)


@overlays.delete("/{int:overlay_id}/items/{steam_id}", response=STARTED)
def item_delete(request: ApiRequest, overlay_id: int, steam_id: str) -> Status[dict[str, object]]:
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    return started(items_remove(overlay=overlay, steam_ids=[steam_id], user=request.user))


@overlays.post("/{int:overlay_id}/items/{steam_id}/pin", response=STARTED)
def item_pin(request: ApiRequest, overlay_id: int, steam_id: str) -> Status[dict[str, object]]:
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    return started(items_pin(overlay=overlay, steam_ids=[steam_id], user=request.user))


@overlays.post("/{int:overlay_id}/items/{steam_id}/unpin", response=STARTED)
def item_unpin(request: ApiRequest, overlay_id: int, steam_id: str) -> Status[dict[str, object]]:
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    return started(items_unpin(overlay=overlay, steam_ids=[steam_id], user=request.user))


@overlays.post("/{int:overlay_id}/items/{steam_id}/rollback", response=STARTED)
def item_roll_back(
    request: ApiRequest, overlay_id: int, steam_id: str, body: RollbackIn | None = None
) -> Status[dict[str, object]]:
    """Roll the item back and pin it: to the kept upload `version`, else to the one before."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    version = body.version if body else None
    return started(item_rollback(overlay=overlay, steam_id=steam_id, user=request.user, version=version))


def _upload(upload: KeptUpload) -> dict[str, object]:
    contents = upload.contents
    return {
        "version": upload.version,
        "uploaded_at": upload.uploaded_at,
        "newest": upload.newest,
        "linked": upload.linked,
        "pinned": upload.pinned,
        "skipped": upload.skipped,
        "size": contents.file_size if contents else None,
        "title": contents.title if contents else "",
        "addon_version": contents.addon_version if contents else "",
        "changes": contents.changes if contents else {},
    }


@overlays.get("/{int:overlay_id}/items/{steam_id}/history", response={200: list[UploadOut], **REFUSED})
def item_uploads(request: ApiRequest, overlay_id: int, steam_id: str) -> list[dict[str, object]]:
    """The item's kept uploads, newest first, as its history page lists them: which is Steam's
    newest, which the overlay links, pins or skips, and what each changed against the one before."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    link = history_link(overlay, steam_id)
    return [_upload(upload) for upload in item_history(overlay=overlay, link=link)]


@overlays.post("/{int:overlay_id}/items/{steam_id}/skip", response=STARTED)
def item_skip(request: ApiRequest, overlay_id: int, steam_id: str) -> Status[dict[str, object]]:
    """Skip Steam's newest upload of the item: the one before stays until a newer one arrives."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    return started(item_skip_upload(overlay=overlay, steam_id=steam_id, user=request.user))


@overlays.post("/{int:overlay_id}/collections/{steam_id}/unfollow", response=STARTED)
def unfollow(
    request: ApiRequest, overlay_id: int, steam_id: str, body: UnfollowIn
) -> Status[dict[str, object]]:
    """Stop following a collection: `{"items": "keep"}` keeps its items, `"remove"` removes those
    only it brought."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    keep = unfollow_keeps(body.items)
    return started(
        collection_unfollow(overlay=overlay, steam_id=steam_id, keep_items=keep, user=request.user)
    )


@overlays.post("/{int:overlay_id}/collections/{steam_id}/exclude/{item}", response=STARTED)
def exclude(request: ApiRequest, overlay_id: int, steam_id: str, item: str) -> Status[dict[str, object]]:
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    job = collection_item_exclude(overlay=overlay, collection_id=steam_id, steam_id=item, user=request.user)
    return started(job)


@overlays.post("/{int:overlay_id}/collections/{steam_id}/include/{item}", response=STARTED)
def include(request: ApiRequest, overlay_id: int, steam_id: str, item: str) -> Status[dict[str, object]]:
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    job = collection_item_include(overlay=overlay, collection_id=steam_id, steam_id=item, user=request.user)
    return started(job)


@overlays.post("/{int:overlay_id}/refresh", response=STARTED)
def refresh(request: ApiRequest, overlay_id: int) -> Status[dict[str, object]]:
    """Ask Steam for news of every item, then build (a refresh already queued is answered)."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    job, _created = overlay_refresh_enqueue(overlay=overlay, user=request.user)
    return started(job)


@overlays.post("/{int:overlay_id}/build", response=STARTED)
def build(request: ApiRequest, overlay_id: int) -> Status[dict[str, object]]:
    """Build now: download what is missing and link every item."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    return started(build_enqueue(overlay=overlay, user=request.user, reason="build now"))


@overlays.post("/{int:overlay_id}/retry-failed", response=STARTED)
def retry_failed(request: ApiRequest, overlay_id: int) -> Status[dict[str, object]]:
    """A build that downloads again the items whose last download failed."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    job, _failed = items_retry_failed(overlay=overlay, user=request.user)
    return started(job)


@overlays.post("/{int:overlay_id}/move", response=STARTED)
def move(request: ApiRequest, overlay_id: int, body: MoveIn) -> Status[dict[str, object]]:
    """Operators: move the overlay to another host (built there, then its old folder goes)."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    return started(overlay_move_asked(overlay=overlay, host_name=body.host, user=request.user))


@overlays.post("/{int:overlay_id}/share", response={200: OverlayDetailOut, **REFUSED})
def share(request: ApiRequest, overlay_id: int) -> dict[str, object]:
    """Its owner turns the players' page on; the overlay answers with its `share_url`."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    overlay_share_by(overlay=overlay, user=request.user)
    return _overlay_detail(request, overlay)


@overlays.post("/{int:overlay_id}/share/revoke", response={200: OverlayDetailOut, **REFUSED})
def share_revoke(request: ApiRequest, overlay_id: int) -> dict[str, object]:
    """Turn the players' page off: its link answers 404 from now on."""
    overlay = overlay_for_user(user=request.user, pk=overlay_id)
    overlay_share_revoke(overlay=overlay)
    return _overlay_detail(request, overlay)


# --- jobs -------------------------------------------------------------------------------------


def _job_row(job: Job) -> dict[str, object]:
    return {
        "id": job.pk,
        "operation": job.operation,
        "title": job.title,
        "state": job.state,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "url": reverse("jobs:detail", args=[job.pk]),
    }


@jobs.get("", response=JobPage)
def job_list(
    request: ApiRequest, state: str = "", operation: str = "", subject: str = "", page: int = 1
) -> dict[str, object]:
    """The jobs the user sees on their jobs page, newest first, 25 a page, with its filters."""
    filters = list_filters({"state": state, "operation": operation, "subject": subject})
    visible = Job.objects.visible_to(request.user).filter(**filters)
    shown = Paginator(visible, JOBS_PER_PAGE).get_page(page)
    return {
        "count": shown.paginator.count,
        "page": shown.number,
        "pages": shown.paginator.num_pages,
        "jobs": [_job_row(job) for job in shown.object_list],
    }


@jobs.get("/{int:job_id}", response={200: JobDetailOut, **REFUSED})
def job_read(request: ApiRequest, job_id: int, after: int = 0) -> dict[str, object]:
    """A job as its page shows it; `after`: only the log lines after that one."""
    return status_body(job_for_user(user=request.user, pk=job_id), after=max(0, after))


@jobs.post("/{int:job_id}/cancel", response={200: JobCancelled, **REFUSED})
def job_cancel_now(request: ApiRequest, job_id: int) -> dict[str, object]:
    """Cancel: a queued job at once, a running one at its next check; an ended one stays as it is."""
    job = job_cancel(job=job_for_user(user=request.user, pk=job_id))
    return {"job": job.pk, "url": reverse("jobs:detail", args=[job.pk]), "state": job.state}


@jobs.post("/{int:job_id}/retry-now", response={202: JobStarted, **REFUSED})
def job_retry(request: ApiRequest, job_id: int) -> Status[dict[str, object]]:
    """A job waiting to retry runs now instead of at its retry time; 400 when it is not waiting."""
    job = job_for_user(user=request.user, pk=job_id)
    if not job_retry_now(job=job):
        raise JobRefused(retry_refused(job))
    return started(job)
