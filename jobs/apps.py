from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.module_loading import autodiscover_modules


class JobsConfig(AppConfig):
    name = "jobs"

    def ready(self) -> None:
        from jobs.checks import check_operations_have_tasks

        # Every process (web, worker, beat, manage.py) knows every operation and its policy
        # (the apps' `operations` modules) and every task bound to one (their `tasks` modules).
        autodiscover_modules("operations", "tasks")
        checks.register(check_operations_have_tasks)
