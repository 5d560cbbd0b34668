"""System check: every declared job operation (the apps' `operations` modules) has its Celery
task (bound in their `tasks` modules), so no job waits for nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import current_app
from django.apps import AppConfig
from django.core.checks import CheckMessage, Error

from jobs import registry


def check_operations_have_tasks(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    tasks = current_app.tasks  # finalizes the Celery app: every autodiscovered task is registered
    return [
        Error(
            f"job operation {op.name!r} has no Celery task {op.task_name!r}",
            hint="bind its work with @jobs.runner.job_task(<operation>) in a tasks module of an installed app",
            id="jobs.E001",
        )
        for op in registry.operations()
        if op.task_name not in tasks
    ]
