from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from jobs.models import Job, JobLogLine
from jobs.services import job_cancel, job_enqueue_ex


class JobLogLineInline(admin.TabularInline):
    model = JobLogLine
    fields = ("seq", "stream", "text", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "operation", "state", "overlay", "user", "requeues", "created_at", "finished_at")
    list_filter = ("state", "operation")
    list_select_related = ("overlay", "user")
    search_fields = ("id", "overlay__name", "user__username", "error")
    readonly_fields = (
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
            _, new = job_enqueue_ex(operation=job.operation, user=job.user, overlay=job.overlay)
            created += new
        coalesced = queryset.count() - created
        self.message_user(request, f"Queued {created} new job(s); {coalesced} joined a job already queued.")


@admin.register(JobLogLine)
class JobLogLineAdmin(admin.ModelAdmin):
    list_display = ("job", "seq", "stream", "text", "created_at")
    list_filter = ("stream",)
    search_fields = ("text", "job__id")
    list_select_related = ("job",)
