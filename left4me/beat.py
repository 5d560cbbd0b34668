"""One beat for the whole fleet: the running beat holds a lock in Redis and renews it every tick;
a second beat started anywhere stands by, sending nothing, and takes over once the lock expires
(LEFT4ME_BEAT_LOCK_SECONDS after the first stopped renewing it)."""

from __future__ import annotations

import logging
import socket
import uuid
from typing import Any

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

from left4me.health import redis_client

logger = logging.getLogger(__name__)

BEAT_LOCK_KEY = "left4me:beat-lock"
# Renew when we hold it, take it when nobody does: one round trip, atomic in Redis.
_HOLD = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class BeatLock:
    """The lock one beat holds; `hold()` takes or renews it and says whether this beat has it."""

    def __init__(self, client: redis.Redis | None = None, *, seconds: float | None = None) -> None:
        self._client = client or redis_client()
        self.seconds = float(seconds if seconds is not None else settings.LEFT4ME_BEAT_LOCK_SECONDS)
        self.token = f"{socket.gethostname()}:{uuid.uuid4().hex}"

    def hold(self) -> bool:
        try:
            return bool(self._client.eval(_HOLD, 1, BEAT_LOCK_KEY, self.token, int(self.seconds * 1000)))
        except redis.RedisError:
            logger.warning("beat lock not renewed (Redis unreachable): sending nothing", exc_info=True)
            return False

    def release(self) -> None:
        try:
            self._client.eval(_RELEASE, 1, BEAT_LOCK_KEY, self.token)
        except redis.RedisError:
            logger.warning("beat lock not released; it expires by itself", exc_info=True)

    @staticmethod
    def holder(client: redis.Redis | None = None) -> str:
        value = (client or redis_client()).get(BEAT_LOCK_KEY)
        return value.decode() if isinstance(value, bytes) else str(value or "")


class LockedScheduler(DatabaseScheduler):  # type: ignore[misc]
    """django-celery-beat's DatabaseScheduler, sending only while this beat holds the lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock = BeatLock()
        self._standing_by = False
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        renew_every = self.lock.seconds / 3
        if not self.lock.hold():
            if not self._standing_by:
                logger.warning("another beat holds %s: standing by", BEAT_LOCK_KEY)
                self._standing_by = True
            return renew_every
        if self._standing_by:
            logger.warning("beat lock taken: this beat now sends the schedule")
            self._standing_by = False
        return float(min(super().tick(*args, **kwargs), renew_every))

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.lock.release()
