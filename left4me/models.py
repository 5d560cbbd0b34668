"""The machines of a fleet: each game-server host keeps its own workshop cache and overlay folders
and runs a worker on its own Celery queue (README "More than one host")."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

HOST_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"


def host_queue_for(name: str) -> str:
    """The queue a host's worker consumes unless LEFT4ME_WORKER_QUEUE names another: the shared
    queue for the single-machine default host (nothing changes for one box), `host-<name>` else."""
    return "celery" if name == "local" else f"host-{name}"


class Host(models.Model):
    """A machine holding overlays: its worker registers it (LEFT4ME_HOST) and reports on it."""

    name = models.CharField(
        max_length=63,
        unique=True,
        validators=[RegexValidator(f"^{HOST_NAME_PATTERN}$", "letters, digits, _ . - (at most 63)")],
    )
    queue = models.CharField(
        max_length=100,
        blank=True,
        help_text="the Celery queue its worker consumes; empty: LEFT4ME_WORKER_QUEUE (the default host)",
    )
    root = models.CharField(
        max_length=500,
        blank=True,
        help_text="its data folder (LEFT4ME_ROOT) on that machine, as its worker says",
    )
    open_to_all = models.BooleanField(
        default=True, help_text="every user may place overlays here; otherwise only the users below"
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="hosts", help_text="may place overlays here"
    )
    free_bytes = models.BigIntegerField(null=True, blank=True, help_text="free in its cache's file system")
    total_bytes = models.BigIntegerField(null=True, blank=True, help_text="size of its cache's file system")
    cache_bytes = models.BigIntegerField(null=True, blank=True, help_text="what its workshop cache holds")
    health = models.CharField(max_length=200, blank=True, help_text="'ok', or what its worker found wrong")
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="its worker's last report")
    items_by_state = models.JSONField(
        default=dict,
        blank=True,
        help_text="state -> links of its overlays in that state, as last counted for /metrics",
    )
    items_counted_at = models.DateTimeField(
        null=True, blank=True, help_text="when items_by_state was counted"
    )
    cache_unlinked = models.JSONField(
        default=dict,
        blank=True,
        help_text="steam id -> when its cache collection first saw no overlay of this host linking it",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def job_queue(self) -> str:
        """Where the jobs on its files go (Job.queue is set from this at enqueue): what its worker
        registered, else this process's LEFT4ME_WORKER_QUEUE for its own host, else `host-<name>`."""
        if self.queue:
            return self.queue
        return str(settings.LEFT4ME_WORKER_QUEUE) if self.is_here else host_queue_for(self.name)

    @property
    def is_here(self) -> bool:
        """This process runs on this host: its folders are this process's LEFT4ME_ROOT."""
        return self.name == settings.LEFT4ME_HOST

    @property
    def is_down(self) -> bool:
        """No report from its worker for LEFT4ME_HOST_DOWN_AFTER_SECONDS (or never): its jobs wait."""
        if self.last_seen_at is None:
            return True
        return timezone.now() - self.last_seen_at > timedelta(
            seconds=settings.LEFT4ME_HOST_DOWN_AFTER_SECONDS
        )

    @property
    def status(self) -> str:
        if self.is_down:
            return "down" if self.last_seen_at else "never seen"
        return self.health or "ok"


def host_default() -> Host:
    """The host new overlays go to unless one is chosen (LEFT4ME_DEFAULT_HOST), made on first use."""
    host, _created = Host.objects.get_or_create(name=settings.LEFT4ME_DEFAULT_HOST)
    return host


def host_default_pk() -> int:
    return host_default().pk


def host_here() -> Host:
    """The host this process runs on (LEFT4ME_HOST), made on first use like the default host."""
    host, _created = Host.objects.get_or_create(name=settings.LEFT4ME_HOST)
    return host


class Counter(models.Model):
    """A number that only grows (bytes downloaded, Steam API calls), per host and name, summed by
    /metrics. Processes count in memory and add to these rows in batches (left4me.counters), so
    what a worker on another host counts reaches every web process and survives restarts."""

    host = models.CharField(max_length=63, help_text="LEFT4ME_HOST of the processes that counted")
    name = models.CharField(max_length=63)
    value = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["host", "name"]
        constraints = [models.UniqueConstraint(fields=["host", "name"], name="counter_unique_per_host")]

    def __str__(self) -> str:
        return f"{self.name}{{host={self.host}}} {self.value}"
