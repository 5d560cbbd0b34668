"""The HTTP client for workshop files: it talks to Steam's file hosts and nothing else.

A ``file_url`` comes from Steam's answer, so it is not trusted: it (and every redirect it leads
to) must be ``http``/``https`` to a host matching ``WORKSHOP_DOWNLOAD_HOSTS`` (host patterns,
``*.`` for any subdomain), carry no credentials, and resolve only to public addresses, unless
the host is named in the setting as it is (no wildcard): tests and the demo name 127.0.0.1.

Addresses are checked when the connection is made, on the addresses actually connected to: a
host is resolved once, every address is checked before any connects, the socket connects to
one of those addresses (the Host header and TLS SNI keep the name) and its peer is checked
again. A DNS answer that changes between check and connect (rebinding) therefore gets nothing.
Redirects are followed here, at most MAX_REDIRECTS, each hop checked the same way.

Every socket is handed, before it connects, to the watch of the thread that opens it
(:func:`watching`; workshop.watch ends an attempt by shutting its socket down), and every request
asks ``Connection: close``: an attempt's connection is its own, never reused by another.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import _TYPE_SOCKET_OPTIONS
from urllib3.util.timeout import _TYPE_DEFAULT, _TYPE_TIMEOUT

from left4me.addresses import address_is_public, named_explicitly, normal_host

MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
ALLOWED_SCHEMES = ("http", "https")


class DownloadRefused(Exception):
    """The URL is not one of Steam's file hosts; ``str()`` is ``download refused: <why>``.

    Not an OSError nor a requests/urllib3 error, so it passes through both untouched."""

    def __init__(self, why: str) -> None:
        super().__init__(f"download refused: {why}")


class TooManyRedirects(Exception):
    """More than MAX_REDIRECTS hops."""


# --- the rules -----------------------------------------------------------------------------------


def host_patterns() -> list[str]:
    return [normal_host(p) for p in settings.WORKSHOP_DOWNLOAD_HOSTS if p.strip()]


def host_allowed(host: str, patterns: list[str]) -> bool:
    name = normal_host(host)
    for pattern in patterns:
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                return True
        elif name == pattern:
            return True
    return False


def check_url(url: str) -> str:
    """Raise DownloadRefused unless ``url`` may be fetched (scheme, credentials, host); its host."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}://" if scheme else repr(url[:60])
        raise DownloadRefused(f"{shown} is not http or https")
    if not host:
        raise DownloadRefused(f"no host in {url[:80]!r}")
    if parts.username is not None or parts.password is not None:
        raise DownloadRefused(f"the URL for {host} carries credentials")
    if not host_allowed(host, host_patterns()):
        raise DownloadRefused(f"{host} is not a Steam file host")
    return host


def check_address(host: str, address: str) -> None:
    if not address_is_public(address) and not named_explicitly(host, host_patterns()):
        raise DownloadRefused(f"{host} resolves to a private address ({address})")


def resolve(host: str, port: int) -> list[tuple[int, str]]:
    """Every (family, address) the host resolves to, each checked; the connection uses these."""
    found: list[tuple[int, str]] = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        address = str(sockaddr[0])
        check_address(host, address)
        if (family, address) not in found:
            found.append((family, address))
    return found


def open_socket(
    address: str, port: int, timeout: _TYPE_TIMEOUT, options: _TYPE_SOCKET_OPTIONS | None
) -> socket.socket:
    """A connected socket to one numeric address (no name lookup happens here), shown to this
    thread's watch before it connects, so even a connect that hangs can be cut short."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        for option in options or ():
            sock.setsockopt(*option)
        if not isinstance(timeout, _TYPE_DEFAULT):  # urllib3's "no timeout given"
            sock.settimeout(timeout)
        _show_to_watch(sock)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


# --- the watch of this thread's sockets -----------------------------------------------------------


class SocketWatch(Protocol):
    def attach(self, sock: socket.socket) -> None: ...


_watched = threading.local()


@contextmanager
def watching(watch: SocketWatch) -> Iterator[None]:
    """Until the block ends, every socket this thread opens is attached to ``watch``."""
    previous = getattr(_watched, "watch", None)
    _watched.watch = watch
    try:
        yield
    finally:
        _watched.watch = previous


def _show_to_watch(sock: socket.socket) -> None:
    watch: SocketWatch | None = getattr(_watched, "watch", None)
    if watch is not None:
        watch.attach(sock)


# --- connections that check where they connect ---------------------------------------------------


def _checked_socket(conn: HTTPConnection) -> socket.socket:
    """What HTTPConnection._new_conn does, on checked addresses, the peer checked once connected."""
    try:
        addresses = resolve(conn.host, conn.port)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    last: OSError | None = None
    for _family, address in addresses:
        try:
            sock = open_socket(address, conn.port, conn.timeout, conn.socket_options)
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
            ) from exc
        except OSError as exc:
            last = exc
            continue
        try:
            check_address(conn.host, str(sock.getpeername()[0]))
        except BaseException:
            sock.close()
            raise
        return sock
    raise NewConnectionError(conn, f"Failed to establish a new connection: {last}")


class CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_socket(self)


class CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_socket(self)


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class SteamFileAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections resolve, check and connect as described above."""

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}

    def proxy_manager_for(self, *args: object, **kwargs: object) -> object:
        raise DownloadRefused("downloads do not go through a proxy")


# --- the session and the request -----------------------------------------------------------------

_session: requests.Session | None = None
_session_pid = 0
_session_lock = threading.Lock()


def download_session() -> requests.Session:
    """This process's pooled session for file downloads; a forked process makes its own.

    No proxies, no .netrc (trust_env off): a proxy would hide the address actually reached."""
    global _session, _session_pid
    with _session_lock:
        if _session is None or _session_pid != os.getpid():
            session = requests.Session()
            session.trust_env = False
            size = max(10, settings.WORKSHOP_DOWNLOAD_CONCURRENCY)
            adapter = SteamFileAdapter(pool_connections=size, pool_maxsize=size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _session, _session_pid = session, os.getpid()
        return _session


def get_file(url: str, *, headers: Mapping[str, str], timeout: tuple[float, float]) -> requests.Response:
    """GET ``url`` streamed, following redirects hop by hop, each checked before it is requested.

    Raises DownloadRefused (a URL or address not allowed), TooManyRedirects, or what requests
    raises for network trouble. The answer is never a redirect unless it has no Location."""
    session = download_session()
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(url)
        response = session.get(
            url,
            headers={**headers, "Connection": "close"},
            stream=True,
            timeout=timeout,
            allow_redirects=False,
        )
        location = response.headers.get("Location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            return response
        response.close()
        url = urljoin(url, location)
    raise TooManyRedirects(f"too many redirects (more than {MAX_REDIRECTS})")
