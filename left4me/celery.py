from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import celeryd_after_setup, worker_ready

from left4me.broker import use_for_redis_urls
from left4me.health import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "left4me.settings")

logger = logging.getLogger(__name__)

# Before the app makes any broker connection: channels that outlive a lost Redis (left4me.broker).
use_for_redis_urls()
app = Celery("left4me")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["consumer"].add(WorkerHeartbeat)


@app.task(name="left4me.ping", ignore_result=False)
def ping(value: str = "pong") -> str:
    """A trivial task: proves a worker is consuming from the broker."""
    return value


def _is_job_worker(instance: Any) -> bool:
    """A job worker serves the shared queue; the housekeeping worker (one slot) does not."""
    return "celery" in instance.app.amqp.queues.consume_from


@celeryd_after_setup.connect
def consume_host_queue(sender: str, instance: Any, **kwargs: Any) -> None:
    """A job worker also serves its host's queue (LEFT4ME_WORKER_QUEUE), where the work on the
    overlays of this machine (LEFT4ME_HOST) is sent."""
    from django.conf import settings

    if _is_job_worker(instance):
        instance.app.amqp.queues.select_add(settings.LEFT4ME_WORKER_QUEUE)
        WorkerHeartbeat.reports_host = True


@worker_ready.connect
def register_host(sender: Any, **kwargs: Any) -> None:
    if not WorkerHeartbeat.reports_host:
        return
    from left4me.hosts import host_register

    try:
        host = host_register()
        logger.info("host %s registered: queue %s, data folder %s", host.name, host.queue, host.root)
    except Exception:
        logger.exception("host not registered (the heartbeat tries again)")
