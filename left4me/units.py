"""Sizes and counts as people read them, one way on every page and in every message: binary
sizes with their IEC names ("1.5 KiB", "8.0 MiB") and counted nouns ("1 overlay", "2 overlays").
Sizes people type ("10 GiB", "500 MiB", "10 GB", plain bytes) are read here too."""

from __future__ import annotations

import re

UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")
# What a typed size may name: IEC units are powers of 1024, SI ones of 1000 (as the names say).
FACTORS: dict[str, int] = {
    "": 1,
    "b": 1,
    "byte": 1,
    "bytes": 1,
    **{unit.lower(): 1024**power for power, unit in enumerate(UNITS) if power},
    **{f"{prefix}b": 1000**power for power, prefix in enumerate("kmgt", start=1)},
}
TYPED_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def human_bytes(count: int) -> str:
    """1536 -> "1.5 KiB"; whole bytes below 1 KiB ("1 byte", "512 bytes")."""
    size = float(count)
    for unit in UNITS:
        if abs(size) < 1024 or unit == UNITS[-1]:
            return counted(count, "byte") if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def counted(n: int, noun: str, plural: str = "") -> str:
    """ "1 overlay", "2 overlays", "0 overlays"; `plural` for a noun that does not add an s."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


class SizeError(ValueError):
    """A typed size that is not one."""


def parse_bytes(text: str) -> int:
    """ "10 GiB" -> 10737418240, "10 GB" -> 10000000000, "500 MiB", "1.5 TiB", "123" (bytes).
    Raises SizeError saying what is accepted."""
    match = TYPED_SIZE.fullmatch(text)
    factor = FACTORS.get(match.group(2).lower()) if match else None
    if match is None or factor is None:
        raise SizeError(
            f"'{text.strip()}' is not a size: write a number and a unit, as in 500 MiB, 10 GiB or "
            "10 GB (GiB = 1024 MiB, GB = 1000 MB), or a number of bytes"
        )
    size = float(match.group(1)) * factor
    if size != int(size) and factor == 1:
        raise SizeError(f"'{text.strip()}' is not a whole number of bytes")
    return round(size)


def typed_bytes(count: int) -> str:
    """A size as someone would type it that reads back as exactly `count`: the unit that gives
    the smallest whole number ("200 GiB", "10 GB"), else the bytes ("1234567 bytes")."""
    units = [(1024**power, unit) for power, unit in enumerate(UNITS) if power]
    units += [(1000**power, f"{prefix}B") for power, prefix in enumerate("kMGT", start=1)]
    exact = [(count // size, unit) for size, unit in units if count and count % size == 0]
    if not exact:
        return counted(count, "byte")
    number, unit = min(exact, key=lambda pair: pair[0])
    return f"{number} {unit}"


def human_duration(seconds: int) -> str:
    """Seconds in the largest unit that divides them: "7 days", "36 hours", "3 minutes", "90 seconds"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            return counted(seconds // size, unit)
    return counted(seconds, "second")
