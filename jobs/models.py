from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from jobs import registry
from left4me.units import counted

REASON_MAX = 500
MANAGE_ALL_JOBS = "jobs.manage_all_jobs"


def timespan(seconds: float) -> str:
    """3725 -> "1 h 2 min", 65 -> "1 min 5 s", 0.4 -> "0 s"."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


class JobQuerySet(models.QuerySet["Job"]):
    def visible_to(self, user: User) -> JobQuerySet:
        """Holders of jobs.manage_all_jobs see every job; others the jobs they started and the
        jobs of what they own."""
        if user.has_perm(MANAGE_ALL_JOBS):
            return self
        return self.own_or_started_by(user)

    def own_or_started_by(self, user: User) -> JobQuerySet:
        return self.filter(models.Q(user=user) | models.Q(owner=user))

    def of(self, subject: models.Model) -> JobQuerySet:
        """The jobs working on `subject`."""
        return self.filter(subject_type=ContentType.objects.get_for_model(subject), subject_id=subject.pk)


class Job(models.Model):
    """The record of one piece of slow work; Celery only executes it.

    `operation` names an entry of jobs.registry; `subject` is the row the job works on (if
    any) and `owner` whoever owns that row, so they see the job too.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        CANCELLING = "cancelling", "Cancelling"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING, State.CANCELLING)
    FINAL_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    operation = models.CharField(max_length=40)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_jobs"
    )
    subject_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    # The subject's name when the job was queued: the title reads without loading the subject,
    # and still reads after the subject is gone.
    subject_name = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=REASON_MAX, blank=True, help_text="why the job was queued")
    queue = models.CharField(max_length=100, blank=True, help_text="the Celery queue its messages go to")
    celery_task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the current Celery message was sent: the reaper re-sends a queued job's lost message.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    requeues = models.PositiveIntegerField(default=0)
    # A job whose run failed on something that may pass waits queued until retry_at (then None
    # again); retries counts the retries it was given, out of JOB_RETRIES.
    retries = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    # A job that waits for something other than a retry (a game server to empty) waits the same
    # way, until retry_at, and says what it waits for here (jobs.runner.JobWait).
    waiting_for = models.CharField(max_length=REASON_MAX, blank=True)
    # items_done counts the items that ended (items_failed of them failed) out of items_total;
    # items_cached the ones the work found done already, which are not in items_total.
    items_done = models.PositiveIntegerField(default=0)
    items_total = models.PositiveIntegerField(default=0)
    items_failed = models.PositiveIntegerField(default=0)
    items_cached = models.PositiveIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    summary = models.TextField(blank=True, help_text="what the work changed, in one line of its log")

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["operation", "state"]),
            models.Index(fields=["subject_type", "subject_id", "operation", "state"]),
            models.Index(fields=["state", "heartbeat_at"]),
        ]
        permissions = [("manage_all_jobs", "see and cancel every user's jobs")]

    def __str__(self) -> str:
        return f"{self.operation} #{self.pk} ({self.state})"

    @property
    def operation_label(self) -> str:
        return registry.label(self.operation)

    @property
    def title(self) -> str:
        """ "Build 'Campaign server #1' · added 3 items": what the job does, to what, and why."""
        verb = registry.verb(self.operation)
        name = self.subject_name or self._subject_str()
        title = f"{verb} '{name}'" if name else verb
        if self.reason and self.reason.lower() != verb.lower():
            title += f" · {self.reason}"
        return title

    def _subject_str(self) -> str:
        """For jobs queued before subject_name was recorded (loads the subject)."""
        subject = self.subject if self.subject_id is not None else None
        return str(subject) if subject is not None else ""

    @property
    def items_succeeded(self) -> int:
        return max(0, self.items_done - self.items_failed)

    @property
    def items_text(self) -> str:
        """ "2 of 3 items done · 1 failed · 5 already cached", or why there is nothing to count."""
        if self.items_total:
            parts = [f"{self.items_succeeded} of {counted(self.items_total, 'item')} done"]
            parts += [f"{self.items_failed} failed"] if self.items_failed else []
            parts += [f"{self.items_cached} already cached"] if self.items_cached else []
            return " · ".join(parts)
        if self.items_cached:
            return f"Nothing to download: all {counted(self.items_cached, 'item')} already cached"
        return "Nothing to do" if self.state == self.State.SUCCEEDED else ""

    @property
    def percent(self) -> int:
        """Progress by bytes when the work moves bytes (smooth during downloads), else by items."""
        if self.bytes_total:
            return min(100, self.bytes_done * 100 // self.bytes_total)
        if self.items_total:
            return min(100, self.items_done * 100 // self.items_total)
        return 100 if self.state == self.State.SUCCEEDED else 0

    @property
    def has_measure(self) -> bool:
        """Whether a progress bar means anything: the work counted bytes or items."""
        return bool(self.bytes_total or self.items_total)

    @property
    def duration(self) -> timedelta | None:
        """How long it ran (so far, while it runs)."""
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def duration_text(self) -> str:
        """ "1 min 5 s", or "running for 12 s" while it runs; empty before it started."""
        duration = self.duration
        if duration is None:
            return ""
        span = timespan(duration.total_seconds())
        return span if self.finished_at else f"running for {span}"

    @property
    def speed(self) -> float | None:
        """Bytes per second over the run, None before any byte moved."""
        duration = self.duration
        if not self.bytes_done or duration is None or duration.total_seconds() <= 0:
            return None
        return self.bytes_done / duration.total_seconds()

    @property
    def eta_seconds(self) -> int | None:
        """Seconds left at the speed so far, while running with bytes to go."""
        speed = self.speed
        if self.state != self.State.RUNNING or not speed or self.bytes_total <= self.bytes_done:
            return None
        return round((self.bytes_total - self.bytes_done) / speed)

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def can_cancel(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    @property
    def waiting_to_retry(self) -> bool:
        return self.state == self.State.QUEUED and self.retry_at is not None

    @property
    def retry_text(self) -> str:
        """ "waiting to retry at 04:20 (2/3)": when the next attempt runs, and which retry it is."""
        if not self.waiting_to_retry or self.retry_at is None:
            return ""
        at = timezone.localtime(self.retry_at).strftime("%H:%M")
        if self.waiting_for:
            return f"{self.waiting_for} · next check {at}"
        return f"waiting to retry at {at} ({self.retries}/{settings.JOB_RETRIES})"


class JobLogLine(models.Model):
    class Stream(models.TextChoices):
        STDOUT = "stdout", "stdout"
        STDERR = "stderr", "stderr"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="lines")
    seq = models.PositiveIntegerField()
    stream = models.CharField(max_length=6, choices=Stream.choices, default=Stream.STDOUT)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="job_log_seq_unique")]

    def __str__(self) -> str:
        return f"{self.seq} {self.stream}: {self.text}"


class JobItem(models.Model):
    """One unit of a job's work that the page follows on its own (a build: one download)."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        DOWNLOADING = "downloading", "Downloading"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CACHED = "cached", "Cached"
        SKIPPED = "skipped", "Skipped"

    ENDED_STATES = (State.DONE, State.FAILED, State.CACHED, State.SKIPPED)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=40)
    title = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "id"]
        constraints = [models.UniqueConstraint(fields=["job", "key"], name="job_item_key_unique")]
        indexes = [models.Index(fields=["job", "state"])]

    def __str__(self) -> str:
        return f"{self.key} {self.state}"

    @property
    def state_text(self) -> str:
        """Its state in words; one still queued when its job ended was never started."""
        if self.state == self.State.QUEUED and self.job.state in Job.FINAL_STATES:
            return "Not started (job cancelled)" if self.job.state == Job.State.CANCELLED else "Not started"
        return str(self.get_state_display())

    @property
    def percent(self) -> int:
        if self.state in (self.State.DONE, self.State.CACHED):
            return 100
        return min(100, self.bytes_done * 100 // self.bytes_total) if self.bytes_total else 0
