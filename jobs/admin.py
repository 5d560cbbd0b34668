from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from jobs.models import Job, JobLogLine
from jobs.services import job_cancel, job_enqueue


class JobLogLineInline(admin.TabularInline[JobLogLine, Job]):
    model = JobLogLine
    fields = ("seq", "stream", "text", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = (
        "id",
        "operation",
        "state",
        "subject",
        "owner",
        "user",
        "requeues",
        "created_at",
        "finished_at",
    )
    list_filter = ("state", "operation", "subject_type")
    list_select_related = ("owner", "user", "subject_type")
    search_fields = ("id", "subject_id", "owner__username", "user__username", "error")
    readonly_fields = (
        "queue",
        "celery_task_id",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "dispatched_at",
    )
    inlines = [JobLogLineInline]
    actions = ["cancel_jobs", "rerun_jobs"]

    @admin.action(description="Cancel")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        cancelled = [job_cancel(job=job) for job in queryset if job.can_cancel]
        self.message_user(request, f"Cancel sent to {len(cancelled)} job(s).", messages.SUCCESS)

    @admin.action(description="Re-run")
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        created = 0
        for job in queryset:
            _, new = job_enqueue(operation=job.operation, subject=job.subject, owner=job.owner, user=job.user)
            created += new
        coalesced = queryset.count() - created
        self.message_user(request, f"Queued {created} new job(s); {coalesced} joined a job already queued.")


@admin.register(JobLogLine)
class JobLogLineAdmin(admin.ModelAdmin[JobLogLine]):
    list_display = ("job", "seq", "stream", "text", "created_at")
    list_filter = ("stream",)
    search_fields = ("text", "job__id")
    list_select_related = ("job",)
