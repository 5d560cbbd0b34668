from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, QuerySet, When
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from jobs import registry
from jobs.models import MANAGE_ALL_JOBS, Job, JobItem, JobLogLine
from jobs.services import job_cancel, job_for_user, job_retry_now
from left4me.http import AuthenticatedHttpRequest
from left4me.units import human_bytes

JOBS_PER_PAGE = 25
# One status answer carries at most this many lines; the page asks again for the rest.
STATUS_MAX_LINES = 500
# The item rows a status answer (and the page) carries: the active ones first, then the latest.
STATUS_MAX_ITEMS = 50


def _job_for_user(request: AuthenticatedHttpRequest, pk: int) -> Job:
    """The job, if the user may see it (job_for_user: 403 for someone else's)."""
    return job_for_user(user=request.user, pk=pk)


@login_required
@require_GET
def job_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    visible = Job.objects.visible_to(request.user)
    filters = list_filters(request.GET)
    jobs = visible.filter(**filters).select_related("user").prefetch_related("subject")
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "show_owner": request.user.has_perm(MANAGE_ALL_JOBS), "filters": filters}
    context |= {
        "subjects": _subjects(visible),
        "states": Job.State.choices,
        "operations": [(op.name, op.label) for op in registry.operations()],
        "query": _query_without_page(request),
    }
    return render(request, "jobs/list.html", context)


def list_filters(params: Mapping[str, str]) -> dict[str, str]:
    """The list's filters from ?subject=<id>&state=<state>&operation=<name> (the page's and the
    API's); unknown values are ignored, so an old link still shows a list."""
    filters: dict[str, str] = {}
    subject = params.get("subject", "")
    if subject.isdigit():
        filters["subject_id"] = subject
    if params.get("state", "") in Job.State.values:
        filters["state"] = params["state"]
    if params.get("operation", "") in {op.name for op in registry.operations()}:
        filters["operation"] = params["operation"]
    return filters


def _subjects(jobs: QuerySet[Job]) -> list[tuple[int, str]]:
    """(id, name) of what the user's jobs worked on, for the filter (the latest name of each)."""
    names: dict[int, str] = {}
    rows = (
        jobs.exclude(subject_id=None).order_by("subject_id", "-id").values_list("subject_id", "subject_name")
    )
    for subject_id, name in rows.distinct():
        if subject_id is not None:
            names.setdefault(subject_id, name or f"#{subject_id}")
    return sorted(names.items(), key=lambda pair: pair[1].lower())


def _query_without_page(request: AuthenticatedHttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
@require_GET
def job_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, _job_for_user(request, pk))


def _render_detail(
    request: AuthenticatedHttpRequest, job: Job, *, error: str = "", status: int = 200
) -> HttpResponse:
    lines = list(job.lines.order_by("seq"))
    context = {"job": job, "lines": lines, "last_seq": lines[-1].seq if lines else 0}
    context |= {"percent": job.percent, "final": job.state in Job.FINAL_STATES}
    context |= {
        "items": _items_shown(job),
        "speed": _speed_text(job.speed),
        "eta": _eta_text(job.eta_seconds),
        "error": error,
    }
    return render(request, "jobs/detail.html", context, status=status)


@never_cache
@login_required
@require_GET
def job_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = _job_for_user(request, pk)
    after = _parse_after(request.GET.get("after", "0"))
    if after is None:
        return HttpResponseBadRequest("after must be a whole number >= 0", content_type="text/plain")
    return JsonResponse(status_body(job, after=after))


def status_body(job: Job, *, after: int = 0) -> dict[str, object]:
    """What the job page's live part (and the API's job read) says of a job: its state,
    progress, items and its log lines after line `after` (at most STATUS_MAX_LINES)."""
    lines = job.lines.filter(seq__gt=after).order_by("seq")[:STATUS_MAX_LINES]
    return _status(job, [_line(line) for line in lines], _items_shown(job))


@login_required
@require_POST
def job_cancel_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = _job_for_user(request, pk)
    if job.state in Job.FINAL_STATES:
        messages.info(request, f"This job already ended ({job.get_state_display().lower()}).")
    elif job_cancel(job=job).state == Job.State.CANCELLED:
        messages.success(request, f"Job cancelled: {job.title}.")
    else:
        messages.success(request, f"Cancel requested: {job.title} stops at its next check.")
    return redirect("jobs:detail", pk=job.pk)


@login_required
@require_POST
def job_retry_now_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A job waiting to retry runs now instead of at its retry time; 400 on the job's page when
    it is not waiting."""
    job = _job_for_user(request, pk)
    if not job_retry_now(job=job):
        return _render_detail(request, job, error=retry_refused(job), status=400)
    messages.success(request, f"{job.title}: retrying now instead of at its retry time.")
    return redirect("jobs:detail", pk=job.pk)


def retry_refused(job: Job) -> str:
    """Why a retry now was refused: the job is not waiting (it ran, or was cancelled)."""
    job.refresh_from_db()
    return f"{job.title} is not waiting to retry (it is {job.get_state_display().lower()})."


def _parse_after(raw: str) -> int | None:
    try:
        after = int(raw)
    except ValueError:
        return None
    return after if after >= 0 else None


def _items_shown(job: Job) -> list[JobItem]:
    """The downloading items first, then the ones that changed last (one query)."""
    downloading_first = Case(When(state=JobItem.State.DOWNLOADING, then=0), default=1)
    return list(job.items.order_by(downloading_first, "-updated_at", "-id")[:STATUS_MAX_ITEMS])


def _line(line: JobLogLine) -> dict[str, object]:
    return {"seq": line.seq, "stream": line.stream, "text": line.text, "time": _clock(line.created_at)}


def _clock(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M:%S")


def _local_iso(moment: datetime | None) -> str | None:
    """In the site's time zone, as the page prints it ("2026-11-26T15:56:48+00:00")."""
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def _status(job: Job, lines: list[dict[str, object]], items: list[JobItem]) -> dict[str, object]:
    progress = {
        "items_done": job.items_done,
        "items_total": job.items_total,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
    }
    counts = {
        "done": job.items_succeeded,
        "failed": job.items_failed,
        "cached": job.items_cached,
        "total": job.items_total,
    }
    speed, eta = job.speed, job.eta_seconds
    return {
        "id": job.pk,
        "operation": job.operation,
        "title": job.title,
        "state": job.state,
        "state_label": job.get_state_display(),
        "retry_text": job.retry_text,
        "retries": job.retries,
        "retry_at": _local_iso(job.retry_at),
        "started_at": _local_iso(job.started_at),
        "finished_at": _local_iso(job.finished_at),
        "duration_text": job.duration_text,
        "progress": progress,
        "counts": counts,
        "items_text": job.items_text,
        "speed": round(speed) if speed is not None else None,
        "speed_text": _speed_text(speed),
        "eta": eta,
        "eta_text": _eta_text(eta),
        "error": job.error,
        "summary": job.summary,
        "items": [_item(item) for item in items],
        "lines": lines,
    }


def _item(item: JobItem) -> dict[str, object]:
    return {
        "key": item.key,
        "title": item.title,
        "state": item.state,
        "state_label": item.state_text,
        "bytes_done": item.bytes_done,
        "bytes_total": item.bytes_total,
        "percent": item.percent,
        "error": item.error,
    }


def _speed_text(speed: float | None) -> str:
    return f"{human_bytes(round(speed))}/s" if speed else ""


def _eta_text(seconds: int | None) -> str:
    """ "about 3 min left"; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"about {seconds} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds // 3600} h {seconds % 3600 // 60} min left"
