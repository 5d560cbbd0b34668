"""The worker's consumer reconnects when Redis goes while it holds unacknowledged messages."""

from __future__ import annotations

from unittest import mock

import pytest
from celery.worker.consumer import Consumer as CeleryConsumer

from left4me.celery import Consumer, app


class BrokenConnection:
    """A connection to a Redis that just went away, closed as kombu 5.7 closes it after a collect:
    its channel gives the unacknowledged messages back through a detached transport."""

    def __init__(self) -> None:
        self.closed = False

    def collect(self, socket_timeout: float | None = None) -> None:
        return None

    def close(self) -> None:
        self.closed = True
        raise AttributeError("'NoneType' object has no attribute 'hostname'")


def consumer_of(cls: type[CeleryConsumer], connection: BrokenConnection) -> CeleryConsumer:
    consumer = cls.__new__(cls)  # only what on_connection_error_after_connected reads
    consumer.app = app
    consumer.connection = connection
    consumer.pool = mock.Mock(num_processes=2)
    consumer.qos_global = None
    consumer.prefetch_multiplier = 1
    consumer.initial_prefetch_count = 2
    consumer._maximum_prefetch_restored = True
    return consumer


def test_the_worker_uses_the_consumer_that_survives_a_broker_restart() -> None:
    assert app.conf.worker_consumer == "left4me.celery:Consumer"


@pytest.mark.filterwarnings("ignore::celery.exceptions.CPendingDeprecationWarning")
def test_a_failing_close_of_the_broken_connection_does_not_stop_the_worker(caplog) -> None:
    connection = BrokenConnection()
    consumer = consumer_of(Consumer, connection)
    consumer.on_connection_error_after_connected(ConnectionError("Connection closed by server."))
    assert connection.closed
    assert consumer.connection is None  # the next start of the blueprint connects again
    assert "did not close cleanly" in caplog.text


@pytest.mark.filterwarnings("ignore::celery.exceptions.CPendingDeprecationWarning")
def test_celerys_own_consumer_lets_that_error_through() -> None:
    """Why left4me has its own consumer: this fails once Celery ignores the error itself."""
    consumer = consumer_of(CeleryConsumer, BrokenConnection())
    with pytest.raises(AttributeError):
        consumer.on_connection_error_after_connected(ConnectionError("Connection closed by server."))
