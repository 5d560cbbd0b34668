"""Which network addresses left4me may reach on its own: public ones only, unless a setting
names the host. One rule for every outgoing connection a user's input leads to: the Steam-only
fetcher (workshop.fetch: a file_url comes from Steam's answer) and notices (an apprise URL comes
from a user)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable


def normal_host(host: str) -> str:
    """A host name or address as compared: no brackets, no trailing dot, lowercase."""
    return host.strip().strip("[]").rstrip(".").lower()


def address_is_public(address: str) -> bool:
    """False for loopback, private, link-local, multicast, reserved, unspecified (and other
    non-global) addresses, IPv4-mapped IPv6 ones judged as the IPv4 address they map."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def named_explicitly(host: str, patterns: Iterable[str]) -> bool:
    """A setting names this host as it is (no wildcard): any address is accepted for it."""
    return normal_host(host) in {normal_host(p) for p in patterns if p.strip() and not p.startswith("*.")}


def private_address_of(host: str, port: int, *, allowed: Iterable[str]) -> str | None:
    """The first address `host` resolves to that is not public, unless `allowed` names the
    host; None when every one is public (or the name does not resolve: nothing to reach)."""
    if named_explicitly(host, allowed):
        return None
    try:
        answers = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for _family, _type, _proto, _name, sockaddr in answers:
        if not address_is_public(str(sockaddr[0])):
            return str(sockaddr[0])
    return None
