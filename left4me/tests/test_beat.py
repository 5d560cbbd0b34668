"""One beat for the fleet: the running beat holds a lock in Redis; a second one sends nothing."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest
import redis
from django.conf import settings

from left4me.beat import BEAT_LOCK_KEY, BeatLock, LockedScheduler


@pytest.fixture
def client() -> Any:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(BEAT_LOCK_KEY)
    yield client
    client.delete(BEAT_LOCK_KEY)
    client.close()


def test_only_one_beat_holds_the_lock_until_it_stops_renewing(client: Any) -> None:
    first, second = BeatLock(client, seconds=0.6), BeatLock(client, seconds=0.6)

    assert first.hold() and not second.hold()
    time.sleep(0.4)
    assert first.hold() and not second.hold()  # renewed: still the first's
    time.sleep(0.4)
    assert not second.hold()  # 0.8 s after taking it, but renewed 0.4 s ago
    assert BeatLock.holder(client) == first.token

    time.sleep(0.7)  # the first stopped renewing (its beat died): the lock expires
    assert second.hold() and not first.hold()


def test_a_stopped_beat_hands_over_at_once(client: Any) -> None:
    first, second = BeatLock(client, seconds=60), BeatLock(client, seconds=60)
    assert first.hold() and not second.hold()
    second.release()  # another's release does nothing
    assert not second.hold()
    first.release()
    assert second.hold()


def _scheduler(lock: BeatLock) -> LockedScheduler:
    scheduler = LockedScheduler.__new__(LockedScheduler)  # no database schedule needed here
    scheduler.lock = lock
    scheduler._standing_by = False
    return scheduler


def test_the_scheduler_sends_only_while_it_holds_the_lock(client: Any) -> None:
    running, standby = BeatLock(client, seconds=30), BeatLock(client, seconds=30)
    with mock.patch("django_celery_beat.schedulers.DatabaseScheduler.tick", return_value=300.0) as tick:
        assert _scheduler(running).tick() == 10.0  # ticks again within a third of the lock's life
        assert tick.call_count == 1
        assert _scheduler(standby).tick() == 10.0
        assert tick.call_count == 1  # the standby sent nothing


def test_redis_down_sends_nothing() -> None:
    broken = mock.Mock()
    broken.eval.side_effect = redis.ConnectionError("down")
    assert BeatLock(broken, seconds=30).hold() is False
