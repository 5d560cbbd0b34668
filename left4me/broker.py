"""kombu's Redis transport, with channels that can still reach Redis after their connection is
gone: the worker's broker for `redis://` and `rediss://` URLs (`sentinel://` keeps kombu's own).

Why. When Redis goes away, Celery's consumer (`Consumer.on_connection_error_after_connected`)
collects and closes the broken connection and connects again, while the jobs it received keep
running in the pool (acks_late). kombu's `Connection.collect` ends with `_do_close_transport`,
which detaches the transport (`transport.client = None`), and closing a channel drops its
connection pools (`Channel._disconnect_pools`). When a job then ends, Celery acknowledges its
message through the channel that received it: `Message.ack` -> `Channel.basic_ack` ->
`QoS.ack` -> `Channel.conn_or_acquire` -> `Channel.pool` -> `Channel._connparams`, which reads
`self.connection.client.hostname` and raises `AttributeError: 'NoneType' object has no
attribute 'hostname'`. That is not one of the transport's connection errors, so
`Message.ack_log_error` lets it through, the worker's event loop stops on it ("Unrecoverable
error") and the worker exits. The same read fails when the close gives unacknowledged messages
back (`QoS.restore_unacked`). Whether it happens depends on which socket notices the loss first
(with gossip and mingle on, often the pub/sub one, and the channel is then left without pools).

The fix. A channel keeps the parameters of its connection from when it had one, so an ack, a
reject or a restore on an old channel goes to Redis at the same address: it lands once Redis is
back, and while Redis is down it fails with Redis's ConnectionError, which Celery logs
("Couldn't ack") and lives with. A channel that never had them says so with that same error.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._kept_connparams: dict[bool, dict[str, Any]] = {}
        super().__init__(*args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:  # collected or closed: see above
            kept = self._kept_connparams.get(asynchronous)
            if kept is None:
                raise redis.ConnectionError("the broker connection of this channel is closed")
            return dict(kept)
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        self._kept_connparams[asynchronous] = dict(params)
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel


def use_for_redis_urls() -> None:
    """Make `redis://` and `rediss://` broker URLs use this transport. Through kombu's aliases,
    not Celery's broker_transport setting, so a `rediss://` URL keeps kombu's TLS defaults
    (they go by the scheme's name)."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
