"""The operations jobs can run, each declared once with its policy by `jobs.runner.job_task`.

`jobs` knows no operation by name: enqueue, the claim, the pages and the admin read this
registry, which the apps fill when their `tasks` modules are imported (`JobsConfig.ready`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import models

Coalesce = Literal["queued", "active"]
QueueFor = Callable[[models.Model | None], str]


def default_queue(subject: models.Model | None) -> str:
    return str(settings.CELERY_TASK_DEFAULT_QUEUE)


@dataclass(frozen=True)
class Operation:
    """What a kind of job is and how it is scheduled.

    coalesce: a new request for the same subject joins a job that is still queued ("queued")
        or queued or running ("active"); None always makes a new job.
    exclusive_per: operations sharing this name never run side by side on one subject; a job
        that finds one running stays queued and tries again.
    queue: the Celery queue for a job, given its subject.
    verb: how a job's title starts ("Build" 'its subject'); the label when empty.
    """

    name: str
    label: str
    verb: str = ""
    coalesce: Coalesce | None = None
    exclusive_per: str | None = None
    queue: QueueFor = default_queue

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
