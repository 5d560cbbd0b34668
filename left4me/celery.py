from __future__ import annotations

import os

from celery import Celery

from left4me.health import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "left4me.settings")

app = Celery("left4me")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["consumer"].add(WorkerHeartbeat)


@app.task(name="left4me.ping", ignore_result=False)
def ping(value: str = "pong") -> str:
    """A trivial task: proves a worker is consuming from the broker."""
    return value
