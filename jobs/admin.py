"""The jobs in the admin: a record to read, never to edit; Cancel and Re-run go through the services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from jobs import registry
from jobs.models import Job, JobItem, JobLogLine
from jobs.services import job_cancel, job_enqueue
from left4me.admin import ReadOnly


class _ReadOnlyInline(ReadOnly):
    extra = 0
    can_delete = False


class JobItemInline(_ReadOnlyInline, admin.TabularInline[JobItem, Job]):
    model = JobItem
    fields = ("key", "title", "state", "bytes_done", "bytes_total", "error", "updated_at")
    readonly_fields = fields


class JobLogLineInline(_ReadOnlyInline, admin.TabularInline[JobLogLine, Job]):
    model = JobLogLine
    fields = ("seq", "stream", "text", "created_at")
    readonly_fields = fields


@admin.register(Job)
class JobAdmin(ReadOnly, admin.ModelAdmin[Job]):
    """Read-only: the state, progress and log are the runner's to write. Staff who may view jobs
    may also Cancel and Re-run them (the actions ask the view permission, as nothing can be changed)."""

    list_display = (
        "id",
        "title",
        "state",
        "owner",
        "user",
        "requeues",
        "created_at",
        "finished_at",
        "duration_text",
    )
    list_filter = ("state", "operation", "subject_type")
    list_select_related = ("owner", "user", "subject_type")
    search_fields = (
        "id",
        "subject_id",
        "subject_name",
        "reason",
        "owner__username",
        "user__username",
        "error",
    )
    inlines = [JobItemInline, JobLogLineInline]
    actions = ["cancel_jobs", "rerun_jobs"]

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> list[str]:
        return ["title", *(field.name for field in Job._meta.fields), "duration_text"]

    @admin.display(description="title")
    def title(self, job: Job) -> str:
        return job.title

    @admin.display(description="duration")
    def duration_text(self, job: Job) -> str:
        return job.duration_text

    @admin.action(description="Cancel", permissions=["view"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        cancelled = [job_cancel(job=job) for job in queryset if job.can_cancel]
        self.message_user(request, f"Cancel sent to {len(cancelled)} job(s).", messages.SUCCESS)

    @admin.action(description="Re-run", permissions=["view"])
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        created = refused = 0
        for job in queryset:
            try:
                _, new = job_enqueue(
                    operation=registry.get(job.operation),
                    subject=job.subject,
                    owner=job.owner,
                    user=job.user,
                    reason=f"re-run of job {job.pk}",
                )
            except (LookupError, ValueError) as exc:  # its queue needs what only its first request knew
                refused += 1
                self.message_user(request, f"Job {job.pk} not re-run: {exc}.", messages.WARNING)
                continue
            created += new
        coalesced = queryset.count() - created - refused
        self.message_user(request, f"Queued {created} new job(s); {coalesced} joined a job already queued.")


@admin.register(JobLogLine)
class JobLogLineAdmin(ReadOnly, admin.ModelAdmin[JobLogLine]):
    list_display = ("job", "seq", "stream", "text", "created_at")
    list_filter = ("stream",)
    search_fields = ("text", "job__id")
    list_select_related = ("job",)
    readonly_fields = ("job", "seq", "stream", "text", "created_at")


@admin.register(JobItem)
class JobItemAdmin(ReadOnly, admin.ModelAdmin[JobItem]):
    list_display = ("job", "key", "title", "state", "bytes_done", "bytes_total", "updated_at")
    list_filter = ("state",)
    search_fields = ("key", "title", "job__id")
    list_select_related = ("job",)
    readonly_fields = ("job", "key", "title", "state", "bytes_done", "bytes_total", "error", "updated_at")
