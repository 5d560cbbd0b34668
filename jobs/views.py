from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from jobs.models import Job
from jobs.services import job_cancel
from left4me.http import AuthenticatedHttpRequest

JOBS_PER_PAGE = 25
# One status answer carries at most this many lines; the page asks again for the rest.
STATUS_MAX_LINES = 500


def _job_for_user(request: AuthenticatedHttpRequest, pk: int) -> Job:
    """The job, if the user started it or owns its subject (staff see all); 403 otherwise."""
    job = get_object_or_404(Job.objects.select_related("user", "subject_type"), pk=pk)
    if not Job.objects.visible_to(request.user).filter(pk=pk).exists():
        raise PermissionDenied("This job belongs to another user.")
    return job


@login_required
@require_GET
def job_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    jobs = Job.objects.visible_to(request.user).select_related("user").prefetch_related("subject")
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "jobs/list.html", {"page": page, "show_owner": request.user.is_staff})


@login_required
@require_GET
def job_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = _job_for_user(request, pk)
    lines = list(job.lines.order_by("seq"))
    context = {"job": job, "lines": lines, "last_seq": lines[-1].seq if lines else 0}
    context |= {"percent": _percent(job), "final": job.state in Job.FINAL_STATES}
    return render(request, "jobs/detail.html", context)


@never_cache
@login_required
@require_GET
def job_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = _job_for_user(request, pk)
    after = _parse_after(request.GET.get("after", "0"))
    if after is None:
        return HttpResponseBadRequest("after must be a whole number >= 0", content_type="text/plain")
    lines = job.lines.filter(seq__gt=after).order_by("seq").values("seq", "stream", "text")
    return JsonResponse(_status(job, [dict(line) for line in lines[:STATUS_MAX_LINES]]))


@login_required
@require_POST
def job_cancel_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = _job_for_user(request, pk)
    if job.state in Job.FINAL_STATES:
        messages.info(request, f"This job already ended ({job.get_state_display().lower()}).")
    elif job_cancel(job=job).state == Job.State.CANCELLED:
        messages.success(request, "Job cancelled.")
    else:
        messages.success(request, "Cancel requested: the job stops at its next check.")
    return redirect("jobs:detail", pk=job.pk)


def _parse_after(raw: str) -> int | None:
    try:
        after = int(raw)
    except ValueError:
        return None
    return after if after >= 0 else None


def _status(job: Job, lines: list[dict[str, object]]) -> dict[str, object]:
    progress = {
        "items_done": job.items_done,
        "items_total": job.items_total,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
    }
    return {
        "id": job.pk,
        "operation": job.operation,
        "state": job.state,
        "progress": progress,
        "error": job.error,
        "lines": lines,
    }


def _percent(job: Job) -> int:
    """Progress by bytes when the work moves bytes (smooth during downloads), else by items."""
    if job.bytes_total:
        return min(100, job.bytes_done * 100 // job.bytes_total)
    if job.items_total:
        return min(100, job.items_done * 100 // job.items_total)
    return 100 if job.state == Job.State.SUCCEEDED else 0
