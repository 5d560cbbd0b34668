from django.contrib import admin

from jobs.models import Job, JobLogLine


class JobLogLineInline(admin.TabularInline):
    model = JobLogLine
    fields = ("seq", "stream", "text", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "operation", "state", "overlay", "user", "created_at", "finished_at")
    list_filter = ("state", "operation")
    search_fields = ("id", "overlay__name", "user__username", "error")
    inlines = [JobLogLineInline]


@admin.register(JobLogLine)
class JobLogLineAdmin(admin.ModelAdmin):
    list_display = ("job", "seq", "stream", "text", "created_at")
    list_filter = ("stream",)
    search_fields = ("text", "job__id")
    list_select_related = ("job",)
