"""The fetcher talks to Steam's file hosts only: hosts, schemes, credentials, redirects, addresses."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakesteam import FakeSteam
from tests.support.helpers import Hooks
from workshop import fetch
from workshop.downloads import (
    DownloadFailed,
    DownloadOutcome,
    DownloadStatus,
    download_many,
    download_with_retry,
)
from workshop.fetch import address_is_public, host_allowed
from workshop.steam import WorkshopMetadata

STEAM_HOSTS = ["*.steamusercontent.com", "steamusercontent-a.akamaihd.net"]


@pytest.fixture
def fast(fast):
    """The short settings of every workshop test, with Steam's own file hosts only."""
    fast.WORKSHOP_DOWNLOAD_HOSTS = list(STEAM_HOSTS)
    return fast


@pytest.fixture
def steam(fast) -> Iterator[FakeSteam]:
    with FakeSteam() as server:
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "workshop_cache"


@pytest.fixture
def dns(monkeypatch) -> dict[str, str]:
    """Names -> the one address they resolve to; other names resolve as usual."""
    names: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host in names:
            return real(names[host], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.fixture
def connects(monkeypatch) -> list[str]:
    """The addresses sockets were opened to."""
    opened: list[str] = []
    real = fetch.open_socket

    def open_socket(address: str, port: int, timeout: Any, options: Any) -> socket.socket:
        opened.append(address)
        return real(address, port, timeout, options)

    monkeypatch.setattr(fetch, "open_socket", open_socket)
    return opened


class Redirector:
    """A loopback server answering every GET with 302 to ``location`` (a relative path may be
    joined to this server's URL)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.gets = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                outer.gets += 1
                self.send_response(302)
                self.send_header("Location", outer.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Redirector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def meta_at(url: str, steam_id: str = "1", size: int = 1000) -> WorkshopMetadata:
    return WorkshopMetadata(steam_id=steam_id, file_url=url, file_size=size, time_updated=1_700_000_000)


def refused(meta: WorkshopMetadata, cache: Path, why: str) -> list[str]:
    lines: list[str] = []
    with pytest.raises(DownloadFailed) as failed:
        download_with_retry(meta, cache, Hooks(lines=lines))
    assert str(failed.value) == f"download refused: {why}"
    assert lines == [f"workshop {meta.steam_id} attempt 1/3 failed: download refused: {why}"]  # no retry
    assert not (cache / f"{meta.steam_id}.vpk").exists()
    return lines


# --- the rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("cdn.steamusercontent.com", True),
        ("cloud-3.steamusercontent.com", True),
        ("CDN.SteamUserContent.com.", True),
        ("steamusercontent-a.akamaihd.net", True),
        ("steamusercontent.com", False),
        ("evilsteamusercontent.com", False),
        ("cdn.steamusercontent.com.evil.net", False),
        ("other.akamaihd.net", False),
        ("127.0.0.1", False),
    ],
)
def test_host_patterns(host: str, allowed: bool) -> None:
    assert host_allowed(host, STEAM_HOSTS) is allowed


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1::1", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("ff02::1", False),
    ],
)
def test_only_public_addresses_pass(address: str, public: bool) -> None:
    assert address_is_public(address) is public


def test_the_default_setting_names_steams_user_content_hosts() -> None:
    from left4me import settings as production

    assert "*.steamusercontent.com" in production.WORKSHOP_DOWNLOAD_HOSTS
    assert "steamusercontent-a.akamaihd.net" in production.WORKSHOP_DOWNLOAD_HOSTS


# --- refused URLs --------------------------------------------------------------------------------


def test_a_host_not_in_the_setting_is_refused_without_a_request(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("11", size=1000)
    done: dict[str, DownloadOutcome] = {}
    hooks = Hooks(lines=[])

    outcomes = download_many(
        [meta_at(steam.file_url("11"), "11", fake.size)], cache, hooks, on_item_done=done.__setitem__
    )

    why = "download refused: 127.0.0.1 is not a Steam file host"
    assert outcomes == {"11": DownloadOutcome(DownloadStatus.FAILED, why)} == done
    assert hooks.lines == [f"workshop 11 attempt 1/3 failed: {why}"]
    assert steam.get_count("11") == 0
    assert not (cache / "11.vpk").exists()


def test_credentials_in_the_url_are_refused(fast, cache: Path, connects: list[str]) -> None:
    refused(
        meta_at("http://user:pass@cdn.steamusercontent.com/ugc/1/"),
        cache,
        "the URL for cdn.steamusercontent.com carries credentials",
    )
    refused(
        meta_at("https://user@cdn.steamusercontent.com/ugc/1/"),
        cache,
        "the URL for cdn.steamusercontent.com carries credentials",
    )
    assert connects == []


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "file:// is not http or https"),
        ("ftp://cdn.steamusercontent.com/x", "ftp:// is not http or https"),
        ("gopher://127.0.0.1:6379/_INFO", "gopher:// is not http or https"),
        ("//cdn.steamusercontent.com/x", "'//cdn.steamusercontent.com/x' is not http or https"),
    ],
)
def test_other_schemes_are_refused_without_retry(
    fast, cache: Path, connects: list[str], url: str, why: str
) -> None:
    refused(meta_at(url), cache, why)
    assert connects == []


def test_a_steam_name_resolving_to_loopback_is_refused(
    steam: FakeSteam, cache: Path, dns: dict[str, str], connects: list[str]
) -> None:
    fake = steam.add_item("12", size=1000)
    dns["evil.steamusercontent.com"] = "127.0.0.1"
    url = f"http://evil.steamusercontent.com:{steam.port}/files/12"

    refused(
        meta_at(url, "12", fake.size),
        cache,
        "evil.steamusercontent.com resolves to a private address (127.0.0.1)",
    )

    assert connects == []
    assert steam.get_count("12") == 0


def test_localhost_is_not_a_steam_file_host(fast, cache: Path, connects: list[str]) -> None:
    fast.WORKSHOP_DOWNLOAD_HOSTS = [*STEAM_HOSTS, "127.0.0.1"]
    refused(meta_at("http://localhost:9/x"), cache, "localhost is not a Steam file host")
    assert connects == []


def test_a_connection_whose_peer_is_private_is_dropped_before_a_byte_is_sent(
    steam: FakeSteam, cache: Path, dns: dict[str, str], monkeypatch
) -> None:
    """DNS said public; the socket ended up on loopback (rebinding, or a NAT trick): refused."""
    fake = steam.add_item("13", size=1000)
    dns["cdn.steamusercontent.com"] = "93.184.216.34"
    real = fetch.open_socket
    monkeypatch.setattr(
        fetch, "open_socket", lambda _a, _p, timeout, options: real("127.0.0.1", steam.port, timeout, options)
    )

    refused(
        meta_at(f"http://cdn.steamusercontent.com:{steam.port}/files/13", "13", fake.size),
        cache,
        "cdn.steamusercontent.com resolves to a private address (127.0.0.1)",
    )
    assert steam.get_count("13") == 0


# --- redirects -----------------------------------------------------------------------------------


def test_a_redirect_to_loopback_is_refused_and_not_fetched(
    steam: FakeSteam, cache: Path, dns: dict[str, str], fast
) -> None:
    fake = steam.add_item("14", size=1000)
    fast.WORKSHOP_DOWNLOAD_HOSTS = [*STEAM_HOSTS, "files.steamusercontent.com"]  # named: loopback ok
    dns["files.steamusercontent.com"] = "127.0.0.1"
    with Redirector(steam.file_url("14")) as hop:
        refused(
            meta_at(f"http://files.steamusercontent.com:{hop.port}/ugc/14/", "14", fake.size),
            cache,
            "127.0.0.1 is not a Steam file host",
        )
        assert hop.gets == 1
    assert steam.get_count("14") == 0
    assert not (cache / "14.vpk").exists()


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("http://10.0.0.1/files/15", "10.0.0.1 is not a Steam file host"),
        (
            "http://cache.steamusercontent.com/files/15",
            "cache.steamusercontent.com resolves to a private address (10.0.0.1)",
        ),
        (
            "http://metadata.steamusercontent.com/",
            "metadata.steamusercontent.com resolves to a private address (169.254.169.254)",
        ),
    ],
)
def test_a_redirect_to_a_private_address_is_refused_before_connecting(
    fast, cache: Path, dns: dict[str, str], connects: list[str], target: str, why: str
) -> None:
    fast.WORKSHOP_DOWNLOAD_HOSTS = [*STEAM_HOSTS, "127.0.0.1"]
    dns["cache.steamusercontent.com"] = "10.0.0.1"
    dns["metadata.steamusercontent.com"] = "169.254.169.254"
    with Redirector(target) as hop:
        refused(meta_at(f"http://127.0.0.1:{hop.port}/ugc/15/", "15"), cache, why)
        assert hop.gets == 1
    assert connects == ["127.0.0.1"]  # the redirector only


def test_redirects_between_allowed_hosts_are_followed(steam: FakeSteam, cache: Path, fast) -> None:
    fast.WORKSHOP_DOWNLOAD_HOSTS = [*STEAM_HOSTS, "127.0.0.1"]
    fake = steam.add_item("16", size=300_000)
    with Redirector(steam.file_url("16")) as last, Redirector(f"http://127.0.0.1:{last.port}/b") as first:
        assert (
            download_with_retry(meta_at(f"http://127.0.0.1:{first.port}/a", "16", fake.size), cache) is True
        )
        assert (first.gets, last.gets) == (1, 1)
    assert (cache / "16.vpk").read_bytes() == fake.content()


def test_a_named_host_downloads_keeping_its_name(
    steam: FakeSteam, cache: Path, dns: dict[str, str], fast
) -> None:
    fast.WORKSHOP_DOWNLOAD_HOSTS = [*STEAM_HOSTS, "files.steamusercontent.com"]
    dns["files.steamusercontent.com"] = "127.0.0.1"
    fake = steam.add_item("17", size=1000)

    url = f"http://files.steamusercontent.com:{steam.port}/files/17"
    assert download_with_retry(meta_at(url, "17", fake.size), cache) is True

    assert (cache / "17.vpk").read_bytes() == fake.content()


def test_a_redirect_loop_ends_after_five_hops(fast, cache: Path) -> None:
    fast.WORKSHOP_DOWNLOAD_HOSTS = [*STEAM_HOSTS, "127.0.0.1"]
    with Redirector("/again") as loop:
        lines: list[str] = []
        with pytest.raises(DownloadFailed, match=r"^too many redirects \(more than 5\)$"):
            download_with_retry(
                meta_at(f"http://127.0.0.1:{loop.port}/start", "18"), cache, Hooks(lines=lines)
            )
        assert loop.gets == 6
    assert len(lines) == 1
