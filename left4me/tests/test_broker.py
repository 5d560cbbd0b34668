"""The broker's channels still reach Redis after their connection is gone (left4me.broker), against
the session's Redis. The worker-level proof is tests/faults/test_redis_kills.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from kombu import Connection
from kombu.message import Message
from kombu.transport import redis as kombu_redis

from left4me import broker
from left4me.celery import app


@pytest.fixture
def received() -> Iterator[tuple[Connection, Message]]:
    """A message received on the app's broker connection and not acknowledged yet."""
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("left4me-test-broker")
        queue.queue.purge()
        queue.put({"job": 1})
        yield conn, queue.get(timeout=5)


def detach(conn: Connection, message: Message) -> None:
    """The state Celery's consumer leaves a channel in after Redis went away: closing it dropped
    its pools (Channel._disconnect_pools) and Connection.collect detached the transport
    (Connection._do_close_transport), while the job of `message` still runs."""
    message.channel._disconnect_pools()
    conn._do_close_transport()


def test_redis_urls_get_the_transport_whose_channels_outlive_their_connection() -> None:
    assert isinstance(app.connection_for_read().transport, broker.Transport)
    assert isinstance(Connection("rediss://127.0.0.1:6390/0").transport, broker.Transport)
    assert Connection("rediss://127.0.0.1:6390/0").ssl  # kombu's TLS default for the scheme stays


def test_a_message_is_acknowledged_after_its_connection_was_collected(received) -> None:
    conn, message = received
    unacked = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert unacked.hexists(message.channel.unacked_key, message.delivery_tag)
    detach(conn, message)
    message.ack()
    assert not unacked.hexists(message.channel.unacked_key, message.delivery_tag)


def test_kombus_own_channel_fails_there_with_an_error_celery_does_not_survive(received) -> None:
    """Why left4me has its own transport: this fails once kombu keeps the parameters itself."""
    conn, message = received
    message.channel.__class__ = kombu_redis.Channel
    try:
        detach(conn, message)
        with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'hostname'"):
            message.ack()
    finally:
        message.channel.__class__ = broker.Channel  # so the fixture's close can end


def test_a_channel_that_never_knew_its_redis_says_so_with_a_connection_error(received) -> None:
    conn, message = received
    message.channel._kept_connparams.clear()
    detach(conn, message)
    with pytest.raises(redis.ConnectionError):
        message.ack()
    assert isinstance(redis.ConnectionError(), conn.connection_errors)  # Celery logs it and goes on
