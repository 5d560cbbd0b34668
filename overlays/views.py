from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Concatenate, ParamSpec, Protocol

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from jobs.models import Job
from left4me.http import AuthenticatedHttpRequest
from left4me.models import Host
from left4me.units import counted
from overlays.contents import contents_context
from overlays.items import (
    collection_unfollow,
    history_link,
    item_history,
    item_rollback,
    item_skip_upload,
    items_add,
    items_include,
    items_pin,
    items_remove,
    items_retry_failed,
    items_unpin,
    unfollow_keeps,
    unfollow_removes,
)
from overlays.models import (
    Health,
    Overlay,
    OverlayCollectionItem,
    OverlayWorkshopCollection,
    OverlayWorkshopExclusion,
    OverlayWorkshopItem,
)
from overlays.pages import (
    ITEMS_PER_PAGE,
    SORT_LABELS,
    ItemQuery,
    downloading,
    item_page,
    item_rows,
    links_of,
    live_items,
    search,
    use_with_server,
)
from overlays.players import overlay_share_by as share_on
from overlays.players import overlay_share_revoke as share_off
from overlays.quotas import quota_of
from overlays.services import (
    MANAGE_ALL_OVERLAYS,
    OverlayError,
    build_enqueue,
    default_host_of,
    host_chosen,
    latest_file_job,
    overlay_create,
    overlay_delete_enqueue,
    overlay_for_user,
    overlay_move_asked,
    overlay_refresh_enqueue,
    overlays_visible_to,
    usable_hosts,
)
from overlays.states import FILTER_CHOICES
from workshop.cache import is_workshop_id
from workshop.models import WorkshopItem
from workshop.parsing import WorkshopInputError

# At most this many "left out" lines are shown after an add; the build's log has them all.
LEFT_OUT_SHOWN = 10


def _overlay_for_user(request: AuthenticatedHttpRequest, pk: int) -> Overlay:
    """The overlay, if the user may act on it (overlay_for_user: 403 for anyone else)."""
    return overlay_for_user(user=request.user, pk=pk)


P = ParamSpec("P")
OverlayView = Callable[Concatenate[AuthenticatedHttpRequest, int, P], HttpResponse]


def overlay_form(view: OverlayView[P]) -> OverlayView[P]:
    """A route the overlay page's forms post to. A refused post answers 400 with the page, and
    the browser stays on the route's address: reloading it (a GET) shows the overlay again."""

    @login_required
    @require_http_methods(["GET", "POST"])
    def wrapped(
        request: AuthenticatedHttpRequest, pk: int, *args: P.args, **kwargs: P.kwargs
    ) -> HttpResponse:
        if request.method == "GET":
            return redirect(_overlay_for_user(request, pk))
        return view(request, pk, *args, **kwargs)

    return wrapped  # type: ignore[return-value]  # Django passes `pk` by name, so it is not positional-only


def _job_redirect(job: Job) -> HttpResponse:
    return redirect("jobs:detail", pk=job.pk)


@login_required
@require_http_methods(["GET", "POST"])
def overlay_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            host = host_chosen(user=request.user, name=request.POST.get("host", ""))
            overlay = overlay_create(owner=request.user, name=request.POST.get("name", ""), host=host)
        except OverlayError as exc:
            return _render_list(request, error=str(exc), status=400)
        messages.success(request, f"Overlay '{overlay.name}' created.")
        return redirect(overlay)
    return _render_list(request)


def _render_list(request: AuthenticatedHttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    overlays = list(overlays_visible_to(request.user).select_related("host"))
    hosts = usable_hosts(request.user)
    health = OverlayWorkshopItem.objects.filter(overlay__in=overlays).health_by_overlay()
    context = {
        "rows": [(overlay, health.get(overlay.pk, Health())) for overlay in overlays],
        "quota": quota_of(request.user),
        "hosts": hosts if len(hosts) > 1 else [],
        "default_host": request.POST.get("host") or default_host_of(hosts),
        "error": error,
        "name": request.POST.get("name", ""),
    }
    return render(request, "overlays/list.html", context, status=status)


@login_required
@require_GET
def overlay_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, _overlay_for_user(request, pk))


def _render_detail(
    request: AuthenticatedHttpRequest, overlay: Overlay, *, error: str = "", status: int = 200
) -> HttpResponse:
    latest = latest_file_job(overlay)
    health = links_of(overlay).health()
    refused_delete = request.session.pop(_delete_error_key(overlay), None) or {}
    # Whether the owner excluded any item rides along, so an overlay without exclusions asks no more.
    excluded = OverlayWorkshopExclusion.objects.filter(overlay=OuterRef("overlay"))
    collections = list(
        overlay.workshop_collections.annotate(item_count=Count("members"), any_excluded=Exists(excluded))
    )
    query = ItemQuery.from_params(request.GET)
    page, rows = item_page(
        overlay,
        query,
        request.GET.get("page"),
        total=health.total,
        collections=collections,
        active=downloading(latest),
    )
    collection_rows = _collection_rows(overlay, collections)
    context = {
        "overlay": overlay,
        "health": health,
        "page": page,
        "rows": rows,
        "query": query,
        "states": FILTER_CHOICES,
        "sorts": SORT_LABELS.items(),
        "collections": collection_rows,
        "latest_build": latest,
        "building": bool(latest and latest.is_active),
        "use_with": use_with_server(overlay),
        "move_to": Host.objects.exclude(name=overlay.host.name)
        if request.user.has_perm(MANAGE_ALL_OVERLAYS)
        else [],
        "error": error,
        "any_pinned": health.pinned > 0,
        "any_excluded": any(excluded for _, excluded, _ in collection_rows),
        "page_numbers": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "input": request.POST.get("input", ""),
        "input_mode": request.POST.get("input_mode", "auto"),
        "confirm_name": refused_delete.get("typed", ""),
        "delete_error": refused_delete.get("error", ""),
        "share_link": request.build_absolute_uri(overlay.share_url) if overlay.share_token else "",
        "may_share": overlay.owner_id == request.user.pk,
    }
    context |= contents_context(overlay)
    return render(request, "overlays/detail.html", context, status=status)


def _collection_rows(
    overlay: Overlay, collections: Sequence[OverlayWorkshopCollection]
) -> list[tuple[OverlayWorkshopCollection, list[WorkshopItem], int]]:
    """Each followed collection with the items the owner excluded from it and how many items
    unfollowing it (removing its items) takes out."""
    if not collections:
        return []
    any_excluded = getattr(collections[0], "any_excluded", True)
    excluded = (
        {e.item_id: e.item for e in overlay.workshop_exclusions.select_related("item")}
        if any_excluded
        else {}
    )
    holders: dict[int, set[int]] = defaultdict(set)
    if excluded:
        members = OverlayCollectionItem.objects.filter(collection__in=collections, item_id__in=list(excluded))
        for item_id, collection_id in members.values_list("item_id", "collection_id"):
            holders[collection_id].add(item_id)
    removes = unfollow_removes(overlay=overlay)
    return [
        (
            collection,
            [item for pk, item in excluded.items() if pk in holders[collection.pk]],
            removes.get(collection.pk, 0),
        )
        for collection in collections
    ]


@never_cache
@login_required
@require_GET
def overlay_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The overlay page's live part, all of it from one look at the rows: its latest build, its
    health (the header's "Items") and the rows of the items it shows (`?ids=1,2,3`, at most one
    page of them) as the page draws them, buttons and all."""
    overlay = _overlay_for_user(request, pk)
    ids = [sid for sid in request.GET.get("ids", "").split(",") if is_workshop_id(sid)][:ITEMS_PER_PAGE]
    latest = latest_file_job(overlay)
    rows = item_rows(overlay, ids, active=downloading(latest))
    return JsonResponse(
        {
            "build": _build_status(latest),
            "items": live_items(latest, ids),
            "health": render_to_string(
                "overlays/health.html", {"health": links_of(overlay).health()}, request=request
            ),
            "rows": {
                row.link.item.steam_id: render_to_string(
                    "overlays/_item_row.html", {"row": row, "overlay": overlay}, request=request
                )
                for row in rows
            },
        }
    )


def _build_status(job: Job | None) -> dict[str, object] | None:
    if job is None:
        return None
    return {
        "id": job.pk,
        "url": reverse("jobs:detail", args=[job.pk]),
        "state": job.state,
        "state_label": job.get_state_display(),
        "title": job.title,
        "items_text": job.items_text,
        "active": job.is_active,
        "items_done": job.items_done,
        "items_total": job.items_total,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
        "percent": job.percent,
    }


@overlay_form
def overlay_items_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    try:
        result = items_add(
            overlay=overlay,
            text=request.POST.get("input", ""),
            input_mode=request.POST.get("input_mode", "auto"),
            user=request.user,
        )
    except WorkshopInputError as exc:
        return _render_detail(request, overlay, error=str(exc), status=400)
    messages.success(
        request,
        f"Added {counted(result.added, 'item')} to {overlay.name}; this build downloads and links them.",
    )
    _report_left_out(request, result.messages)
    return _job_redirect(result.job)


def _report_left_out(request: AuthenticatedHttpRequest, lines: list[str]) -> None:
    shown = lines[:LEFT_OUT_SHOWN]
    if len(lines) > LEFT_OUT_SHOWN:
        shown.append(f"… and {len(lines) - LEFT_OUT_SHOWN} more (all of them are in the build's log)")
    for line in shown:
        messages.warning(request, line)


class ItemsAction(Protocol):
    def __call__(self, *, overlay: Overlay, steam_ids: list[str], user: User | None) -> Job: ...


def _items_action(
    request: AuthenticatedHttpRequest, overlay: Overlay, steam_ids: list[str], action: ItemsAction, done: str
) -> HttpResponse:
    """Run `action` on items of the user's overlay (one build for all) and show that build; 400
    with the reason on the overlay page when none is chosen or it does not apply to them."""
    steam_ids = list(dict.fromkeys(sid for sid in steam_ids if sid))
    if not steam_ids:
        return _render_detail(request, overlay, error="Select at least one item first.", status=400)
    try:
        job = action(overlay=overlay, steam_ids=steam_ids, user=request.user)
    except OverlayError as exc:
        return _render_detail(request, overlay, error=_sentence(str(exc)), status=400)
    messages.success(
        request, f"{done} {_titled(steam_ids)}; the build below applies it to the overlay's folder."
    )
    return _job_redirect(job)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# A message names at most this many items by title; the rest are counted.
TITLES_SHOWN = 3


def _titled(steam_ids: list[str]) -> str:
    """ "Big Map", or "3 items: Big Map, Small Map, Tank" (and how many more)."""
    names = titles_of(steam_ids[:TITLES_SHOWN])
    if len(steam_ids) == 1:
        return names[0]
    more = f" and {len(steam_ids) - TITLES_SHOWN} more" if len(steam_ids) > TITLES_SHOWN else ""
    return f"{counted(len(steam_ids), 'item')}: {', '.join(names)}{more}"


def titles_of(steam_ids: list[str]) -> list[str]:
    """The items' titles (an item without one by its id), in the order given."""
    labels = dict(WorkshopItem.objects.filter(steam_id__in=steam_ids).values_list("steam_id", "title"))
    return [labels.get(sid) or f"workshop item {sid}" for sid in steam_ids]


def _bulk_view(action: ItemsAction, done: str) -> Callable[[AuthenticatedHttpRequest, int], HttpResponse]:
    """A view for the overlay page's buttons: the items in the form's `steam_id` values, or with
    `all_matching=1` every item the form's search (`q`, `state`) matches, on every page."""

    @overlay_form
    def view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        overlay = _overlay_for_user(request, pk)
        return _items_action(request, overlay, _chosen(request, overlay), action, done)

    return view


def _chosen(request: AuthenticatedHttpRequest, overlay: Overlay) -> list[str]:
    if request.POST.get("all_matching") != "1":
        return request.POST.getlist("steam_id")
    query = ItemQuery.from_params(request.POST)
    active = downloading(latest_file_job(overlay))
    return list(search(links_of(overlay), query, list(active)).values_list("item__steam_id", flat=True))


class ItemAction(Protocol):
    def __call__(self, *, overlay: Overlay, steam_id: str, user: User | None) -> Job: ...


def _one(action: ItemAction) -> ItemsAction:
    """A one-item action behind a row's button: the first item named."""

    def first(*, overlay: Overlay, steam_ids: list[str], user: User | None) -> Job:
        return action(overlay=overlay, steam_id=steam_ids[0], user=user)

    return first


overlay_items_remove = _bulk_view(items_remove, "Removed")
overlay_items_pin = _bulk_view(items_pin, "Pinned")
overlay_items_unpin = _bulk_view(items_unpin, "Unpinned")
overlay_items_rollback = _bulk_view(_one(item_rollback), "Rolled back")


@overlay_form
def overlay_item_delete(request: AuthenticatedHttpRequest, pk: int, steam_id: str) -> HttpResponse:
    return _items_action(request, _overlay_for_user(request, pk), [steam_id], items_remove, "Removed")


@overlay_form
def overlay_item_include(request: AuthenticatedHttpRequest, pk: int, steam_id: str) -> HttpResponse:
    return _include(request, _overlay_for_user(request, pk), [steam_id])


@overlay_form
def overlay_items_include(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Include again the excluded items ticked in the collections' list."""
    return _include(request, _overlay_for_user(request, pk), request.POST.getlist("steam_id"))


def _include(request: AuthenticatedHttpRequest, overlay: Overlay, steam_ids: list[str]) -> HttpResponse:
    try:
        return _items_action(request, overlay, steam_ids, items_include, "Included again")
    except WorkshopInputError as exc:  # past the owner's quota
        return _render_detail(request, overlay, error=str(exc), status=400)


@login_required
@require_http_methods(["GET", "POST"])
def overlay_item_history(request: AuthenticatedHttpRequest, pk: int, steam_id: str) -> HttpResponse:
    """The item's kept uploads and what each changed; a POST of `version` rolls back to it."""
    overlay = _overlay_for_user(request, pk)
    link = history_link(overlay, steam_id)
    if request.method == "GET":
        return _render_history(request, overlay, link)
    version = request.POST.get("version", "")
    if not version.isdigit():
        return _render_history(request, overlay, link, error="Choose an upload to roll back to.")
    try:
        job = item_rollback(overlay=overlay, steam_id=steam_id, user=request.user, version=int(version))
    except OverlayError as exc:
        return _render_history(request, overlay, link, error=_sentence(str(exc)))
    messages.success(request, f"Rolled back {link.item.label}; the build below links the upload chosen.")
    return _job_redirect(job)


@login_required
@require_http_methods(["GET", "POST"])
def overlay_item_skip(request: AuthenticatedHttpRequest, pk: int, steam_id: str) -> HttpResponse:
    """Skip Steam's newest upload of the item: the one before stays until a newer one arrives."""
    overlay = _overlay_for_user(request, pk)
    if request.method == "GET":
        return redirect("overlays:item_history", pk=pk, steam_id=steam_id)
    link = history_link(overlay, steam_id)
    try:
        job = item_skip_upload(overlay=overlay, steam_id=steam_id, user=request.user)
    except OverlayError as exc:
        return _render_history(request, overlay, link, error=_sentence(str(exc)))
    messages.success(
        request, f"Skipped the newest upload of {link.item.label}; you are told when Steam has a newer one."
    )
    return _job_redirect(job)


def _render_history(
    request: AuthenticatedHttpRequest, overlay: Overlay, link: OverlayWorkshopItem, *, error: str = ""
) -> HttpResponse:
    uploads = item_history(overlay=overlay, link=link)
    context = {
        "overlay": overlay,
        "link": link,
        "item": link.item,
        "uploads": uploads,
        "can_skip": any(u.newest for u in uploads) and len(uploads) > 1 and link.skipped_version is None,
        "error": error,
    }
    return render(request, "overlays/history.html", context, status=400 if error else 200)


@overlay_form
def overlay_collection_unfollow(request: AuthenticatedHttpRequest, pk: int, steam_id: str) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    try:
        keep = unfollow_keeps(request.POST.get("items", ""))
    except OverlayError as exc:
        return _render_detail(request, overlay, error=str(exc), status=400)
    collection = overlay.workshop_collections.filter(steam_id=steam_id).first()
    removes = unfollow_removes(overlay=overlay).get(collection.pk, 0) if collection else 0
    try:
        job = collection_unfollow(overlay=overlay, steam_id=steam_id, keep_items=keep, user=request.user)
    except OverlayError as exc:
        return _render_detail(request, overlay, error=str(exc), status=400)
    name = collection.label if collection else steam_id
    if keep:
        messages.success(request, f"Unfollowed {name}; its items stay in {overlay.name}.")
    else:
        messages.success(
            request, f"Unfollowed {name} and removed the {counted(removes, 'item')} only it brought."
        )
    return _job_redirect(job)


@overlay_form
def overlay_refresh(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    try:
        job, created = overlay_refresh_enqueue(overlay=overlay, user=request.user)
    except OverlayError as exc:
        return _render_detail(request, overlay, error=str(exc), status=400)
    messages.success(
        request, f"Refresh of {overlay.name} queued: left4me asks Steam for news of every item, then builds."
    )
    if not created:
        messages.info(request, "A refresh of this overlay was already queued: this is it.")
    return _job_redirect(job)


@overlay_form
def overlay_build(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Build now: downloads what is missing (what a cancelled or failed build left) and links
    every item."""
    overlay = _overlay_for_user(request, pk)
    job = build_enqueue(overlay=overlay, user=request.user, reason="build now")
    messages.success(
        request, f"Build of {overlay.name} queued: it downloads what is missing and links every item."
    )
    return _job_redirect(job)


@overlay_form
def overlay_retry_failed(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    try:
        job, failed = items_retry_failed(overlay=overlay, user=request.user)
    except OverlayError as exc:
        return _render_detail(request, overlay, error=_sentence(str(exc)), status=400)
    titles = _titled([link.item.steam_id for link in failed])
    messages.success(request, f"Retrying {titles}; the build below downloads them again.")
    return _job_redirect(job)


@overlay_form
def overlay_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    overlay = _overlay_for_user(request, pk)
    typed = request.POST.get("confirm_name", "")
    if typed != overlay.name:
        # Shown beside the delete box, at the overlay's own address: a reload posts nothing.
        request.session[_delete_error_key(overlay)] = {
            "error": "Type the overlay's name exactly to delete it.",
            "typed": typed,
        }
        return redirect(f"{overlay.get_absolute_url()}#delete-overlay")
    overlay_delete_enqueue(overlay=overlay, user=request.user)
    messages.success(request, f"Overlay '{overlay.name}' deleted; its folder is removed in the background.")
    return redirect("overlays:list")


def _delete_error_key(overlay: Overlay) -> str:
    return f"overlay-delete-error-{overlay.pk}"


@overlay_form
def overlay_move(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Staff (MANAGE_ALL_OVERLAYS) move an overlay to another host: a job on that host builds it."""
    overlay = _overlay_for_user(request, pk)
    name = request.POST.get("host", "")
    try:
        job = overlay_move_asked(overlay=overlay, host_name=name, user=request.user)
    except OverlayError as exc:
        return _render_detail(request, overlay, error=str(exc), status=400)
    messages.success(
        request, f"Move of {overlay.name} to host {name} queued: it is built there, then its old folder goes."
    )
    return _job_redirect(job)


@overlay_form
def overlay_share(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Its owner turns the players' page on (publishing the list is the owner's choice alone)."""
    overlay = _overlay_for_user(request, pk)
    share_on(overlay=overlay, user=request.user)
    messages.success(request, "The players' page is on: anyone with its link sees the addons, nothing else.")
    return redirect(f"{overlay.get_absolute_url()}#players")


@overlay_form
def overlay_share_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Its owner (or an operator) turns the players' page off: the link answers 404 from now on."""
    overlay = _overlay_for_user(request, pk)
    share_off(overlay=overlay)
    messages.success(request, "The players' page is off; turning it on again makes a new link.")
    return redirect(f"{overlay.get_absolute_url()}#players")
