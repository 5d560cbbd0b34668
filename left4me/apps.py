from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class Left4meConfig(AppConfig):
    name = "left4me"

    def ready(self) -> None:
        from celery.signals import task_postrun
        from django.core.signals import request_finished

        from left4me.counters import counters_flush

        def flush(**kwargs: Any) -> None:
            counters_flush()

        # What a request or a task counted is stored when it ends (left4me.counters).
        request_finished.connect(flush, weak=False, dispatch_uid="left4me.counters_flush")
        task_postrun.connect(flush, weak=False, dispatch_uid="left4me.counters_flush")
