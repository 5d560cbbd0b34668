"""Typed readers for environment settings that fail loudly on a bad value."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path

from left4me.units import SizeError, parse_bytes

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_bytes(name: str, default: int) -> int:
    """A size: bytes, or a number and a unit ("200 GiB", "500 MiB", "10 GB"; left4me.units)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse_bytes(raw)
    except SizeError as exc:
        raise ValueError(f"{name}={raw!r}: {exc}") from None


def env_float(name: str, default: float, *, above: float | None = None) -> float:
    """A number; with `above`, one greater than it (NaN and infinity are refused then too)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if above is not None and not above < value < float("inf"):
        raise ValueError(f"{name}={raw!r} must be a number greater than {above:g}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_networks(name: str, default: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses and networks (`127.0.0.1, 10.0.0.0/8, ::1`), comma-separated."""
    networks = []
    for part in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{name}: {part!r} is not an address or a network (10.0.0.0/8)") from None
    return networks


def env_rate(name: str, default: str) -> str:
    """A request rate as django-ninja's throttles take it: "120/min" (N/s, N/min, N/hour, N/day)."""
    raw = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"[1-9]\d*/(s|sec|m|min|h|hour|d|day)", raw):
        raise ValueError(f"{name}={raw!r} is not a rate like 120/min (N/s, N/min, N/hour or N/day)")
    return raw


def persistent_secret(path: Path) -> str:
    """Read the secret kept at `path`, creating it (mode 0600) on first use."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and linked into place: processes starting together agree on one secret.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(50) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
