"""A real worker process, a real Redis: a task sent through the broker comes back done."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from left4me.celery import app
from tests.support.workers import running_worker, wait_for

pytestmark = pytest.mark.integration


def test_celery_app_is_configured_for_crash_safety() -> None:
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json"
    assert conf.beat_scheduler == "left4me.beat:LockedScheduler"  # the DatabaseScheduler, under a lock
    assert conf.task_always_eager is False


@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_a_task_through_redis() -> None:
    assert redis.Redis.from_url(settings.CELERY_BROKER_URL).ping()
    with running_worker(concurrency=1):
        wait_for(lambda: app.control.inspect(timeout=1).ping(), timeout=60)
        # The round trip: a message in, the task run by the worker process, its result back over Redis.
        result = app.send_task("left4me.ping", args=["hello from the test"])
        assert result.get(timeout=30) == "hello from the test"
