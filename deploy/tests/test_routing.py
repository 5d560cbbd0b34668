"""More than one host: work on an overlay's files goes to the queue of the host holding them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from fleet.operations import REFRESH_WORKSHOP_ITEMS
from jobs.registry import Operation
from jobs.services import job_enqueue
from overlays.models import Overlay
from overlays.operations import BUILD_OVERLAY, REFRESH_OVERLAY

pytestmark = pytest.mark.django_db

HOST_QUEUE = "host-a"


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(HOST_QUEUE, "celery")
    yield client
    client.delete(HOST_QUEUE, "celery")
    client.close()


def _messages(broker: redis.Redis, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in broker.lrange(queue, 0, -1)]


@pytest.mark.parametrize("operation", [BUILD_OVERLAY, REFRESH_OVERLAY], ids=lambda op: op.name)
def test_overlay_work_lands_on_the_configured_host_queue(
    operation: Operation, broker: redis.Redis, overlay: Overlay, django_capture_on_commit_callbacks: Callable
) -> None:
    with override_settings(LEFT4ME_WORKER_QUEUE=HOST_QUEUE), django_capture_on_commit_callbacks(execute=True):
        job, _ = job_enqueue(operation=operation, user=overlay.owner, subject=overlay, owner=overlay.owner)

    [message] = _messages(broker, HOST_QUEUE)
    assert message["headers"]["task"] == operation.task_name
    assert message["headers"]["id"] == job.celery_task_id
    assert message["properties"]["delivery_info"]["routing_key"] == HOST_QUEUE
    assert _messages(broker, "celery") == []


def test_the_global_refresh_stays_on_the_shared_queue(
    broker: redis.Redis, django_capture_on_commit_callbacks: Callable
) -> None:
    with override_settings(LEFT4ME_WORKER_QUEUE=HOST_QUEUE), django_capture_on_commit_callbacks(execute=True):
        job, _ = job_enqueue(operation=REFRESH_WORKSHOP_ITEMS)

    [message] = _messages(broker, "celery")
    assert message["headers"]["task"] == "jobs.refresh_workshop_items"
    assert message["headers"]["id"] == job.celery_task_id
    assert _messages(broker, HOST_QUEUE) == []
