"""The operations jobs can run: each is one `Operation` object, declared once in its app's
`operations` module with its whole policy, and bound to its work by `jobs.runner.job_task`.

`jobs` knows no operation by name: enqueue (which takes the object), the claim, the pages and the
admin read this registry, which the apps fill when their `operations` modules are imported
(JobsConfig.ready imports them in every process).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.db import models

if TYPE_CHECKING:
    from left4me.models import Host

Coalesce = Literal["queued", "active"]
# The Celery queue of a new job, given its subject and the host the work is about when that is
# not the subject's own (an overlay's folder on a host it left); picked once, at enqueue.
QueueFor = Callable[[models.Model | None, "Host | None"], str]


def default_queue(subject: models.Model | None, host: Host | None) -> str:
    return str(settings.CELERY_TASK_DEFAULT_QUEUE)


@dataclass(frozen=True)
class Operation:
    """What a kind of job is and how it is scheduled.

    name: stored in Job.operation and in the task's name (`jobs.<name>`): it never changes.
    label: what pages call it (default: the name in words).
    verb: how a job's title starts ("Build" 'its subject'); the label when empty.
    coalesce: a new request for the same subject joins a job that is still queued ("queued")
        or queued or running ("active"); None always makes a new job.
    exclusive_per: operations sharing this name never run side by side on one subject; a job
        that finds one running stays queued and tries again.
    queue: the function that picks a new job's Celery queue (see QueueFor).
    retry_for: the failures that may pass (jobs.runner.JobRetryable): the job waits and runs
        again, JOB_RETRIES times (the job row counts them and holds the time of the next attempt).
    """

    name: str
    label: str = ""
    verb: str = ""
    coalesce: Coalesce | None = None
    exclusive_per: str | None = None
    queue: QueueFor = default_queue
    retry_for: tuple[type[Exception], ...] = ()

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())

    @property
    def task_name(self) -> str:
        return f"jobs.{self.name}"


_operations: dict[str, Operation] = {}


def declare(operation: Operation) -> Operation:
    known = _operations.get(operation.name)
    if known is not None and known != operation:
        raise ValueError(f"job operation {operation.name!r} is declared twice with different policies")
    _operations[operation.name] = operation
    return operation


def undeclare(name: str) -> None:
    _operations.pop(name, None)


def get(name: str) -> Operation:
    try:
        return _operations[name]
    except KeyError:
        raise LookupError(f"no job operation named {name!r}") from None


def label(name: str) -> str:
    operation = _operations.get(name)
    return operation.label if operation else name.replace("_", " ").capitalize()


def verb(name: str) -> str:
    operation = _operations.get(name)
    return (operation.verb or operation.label) if operation else label(name)


def operations() -> list[Operation]:
    return sorted(_operations.values(), key=lambda op: op.name)


def exclusive_group(operation: Operation) -> list[str]:
    """The operations that may not run beside `operation` on one subject (itself included)."""
    if operation.exclusive_per is None:
        return [operation.name]
    return [op.name for op in _operations.values() if op.exclusive_per == operation.exclusive_per]
