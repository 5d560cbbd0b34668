from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from jobs.models import Job


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = Job.objects.all() if request.user.is_staff else Job.objects.filter(user=request.user)
    return render(request, "jobs/list.html", {"jobs": jobs[:50]})
